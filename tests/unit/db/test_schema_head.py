"""``schema_head``: the start-up's question "is the schema current?" answered without alembic."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, text

from spyglass.db.engine import create_database
from spyglass.db.migrate import head, sync_schema
from spyglass.db.schema_head import HEAD, VERSION_TABLE, at_head


def test_head_names_the_newest_migration() -> None:
    assert head() == HEAD, "a new migration: set HEAD in src/spyglass/db/schema_head.py"


async def test_only_a_schema_recording_head_is_at_head(tmp_path: Path) -> None:
    database = create_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def older(connection: Connection) -> None:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0007_tasks'"))

    try:
        assert not await at_head(database)  # empty
        await sync_schema(database)
        assert await at_head(database)
        await database.run_on_connection(older)
        assert not await at_head(database)  # start-up then goes through db.migrate
    finally:
        await database.dispose()
