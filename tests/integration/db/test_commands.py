"""``spyglass db sync | version | check | upgrade | downgrade | purge`` on SQLite, PostgreSQL
and MariaDB, run as an operator runs them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from spyglass.db.engine import create_database
from spyglass.db.migrate import VERSION_TABLE, head, sync_schema
from spyglass.db.models import ImageMemberRow, ImagePropertyRow, ImageRow, ImageTagRow
from spyglass.timeutils import utcnow
from tests.integration.db.conftest import Db, tables


def _ok(result: object) -> str:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


async def test_sync_version_check_upgrade_downgrade(db: Db) -> None:
    check = db.spyglass("db", "check")
    assert check.returncode == 3
    assert "empty" in check.stdout
    assert "empty" in _ok(db.spyglass("db", "version"))

    assert "up to date" in _ok(db.spyglass("db", "sync"))
    assert _ok(db.spyglass("db", "version")).strip() == f"{head()} (up to date)"
    assert "up to date" in _ok(db.spyglass("db", "check"))
    assert "up to date" in _ok(db.spyglass("db", "sync"))  # idempotent

    assert "0003_upload_reservations" in _ok(
        db.spyglass("db", "downgrade", "0003_upload_reservations")
    )
    found = await tables(db.url)
    assert "spyglass_upload_reservations" in found
    assert "spyglass_notifications" not in found
    assert "metadef_namespaces" not in found
    behind = db.spyglass("db", "check")
    assert behind.returncode == 3
    assert "behind" in behind.stdout

    assert "0005_image_cache" in _ok(db.spyglass("db", "upgrade", "0005_image_cache"))
    assert "cached_images" in await tables(db.url)
    _ok(db.spyglass("db", "upgrade"))
    assert _ok(db.spyglass("db", "version")).strip() == f"{head()} (up to date)"

    _ok(db.spyglass("db", "downgrade", "base"))
    assert await tables(db.url) <= {VERSION_TABLE}
    _ok(db.spyglass("db", "sync"))
    assert {"images", "image_members", "metadef_tags"} <= await tables(db.url)


async def test_bad_revisions_are_one_line_errors(db: Db) -> None:
    _ok(db.spyglass("db", "sync"))
    for args in (("downgrade", "nope"), ("upgrade", "nope"), ("downgrade", "glance")):
        result = db.spyglass("db", *args)
        assert result.returncode == 1, args
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("spyglass: error: ")


async def test_a_version_kept_by_an_earlier_release_moves_to_its_own_table(db: Db) -> None:
    """Earlier Spyglass kept its revision in ``alembic_version``; sync moves it, losing nothing."""
    database = create_database(db.url)

    def to_legacy(connection: Connection) -> None:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text(f"INSERT INTO alembic_version VALUES ('{head()}')"))
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))

    try:
        await sync_schema(database)
        await database.run_on_connection(to_legacy)
    finally:
        await database.dispose()
    assert "up to date" in _ok(db.spyglass("db", "check"))  # already counted as Spyglass's
    _ok(db.spyglass("db", "sync"))
    found = await tables(db.url)
    assert VERSION_TABLE in found
    assert "alembic_version" not in found
    assert _ok(db.spyglass("db", "version")).strip() == f"{head()} (up to date)"


async def test_purge_removes_old_soft_deleted_rows_but_never_images(db: Db) -> None:
    now = utcnow()
    old, recent = now - timedelta(days=40), now - timedelta(days=1)

    def seed(session: Session) -> None:
        for number, deleted_at in enumerate((old, None)):
            image_id = f"00000000-0000-4000-8000-00000000000{number}"
            session.add(
                ImageRow(
                    id=image_id,
                    status="deleted" if deleted_at else "active",
                    visibility="private",
                    created_at=old,
                    deleted=deleted_at is not None,
                    deleted_at=deleted_at,
                )
            )
            session.flush()
            session.add(
                ImagePropertyRow(
                    image_id=image_id, name="p", value="v", created_at=old,
                    deleted=deleted_at is not None, deleted_at=deleted_at,
                )
            )  # fmt: skip
        live = "00000000-0000-4000-8000-000000000001"
        for value, deleted_at in (("gone", old), ("fresh", recent), ("kept", None)):
            session.add(
                ImageTagRow(
                    image_id=live, value=value, created_at=old,
                    deleted=deleted_at is not None, deleted_at=deleted_at,
                )
            )  # fmt: skip
        for member in ("a", "b", "c"):
            session.add(
                ImageMemberRow(
                    image_id=live, member=member, can_share=False, created_at=old,
                    deleted=True, deleted_at=old,
                )
            )  # fmt: skip

    def count(session: Session, model: type) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    database = create_database(db.url)
    try:
        await sync_schema(database)
        await database.run(seed, write=True)
        out = _ok(db.spyglass("db", "purge", "--age-in-days", "30", "--max-rows", "2"))
        assert "image_members: 2 row(s) purged" in out
        assert "image_properties: 1 row(s) purged" in out
        assert "image_tags: 1 row(s) purged" in out
        assert "purged 4 row(s)" in out
        counts = {
            model.__tablename__: await database.run(lambda s, m=model: count(s, m))  # type: ignore[misc]
            for model in (ImageRow, ImagePropertyRow, ImageTagRow, ImageMemberRow)
        }
        assert counts == {"images": 2, "image_properties": 1, "image_tags": 2, "image_members": 1}
        out = _ok(db.spyglass("db", "purge", "--age-in-days", "0", "--max-rows", "-1"))
        assert "image_tags: 1 row(s) purged" in out  # the one deleted yesterday
        assert "image_members: 1 row(s) purged" in out
        assert await database.run(lambda s: count(s, ImageRow)) == 2
    finally:
        await database.dispose()
