"""The schema's version and its moves (``spyglass db sync|version|check|upgrade|downgrade``).

Spyglass records its alembic revision in ``spyglass_alembic_version`` so that a
database adopted from upstream Glance keeps upstream's ``alembic_version``
untouched (see ``db.adoption``). Databases made by earlier Spyglass releases
kept Spyglass's revision in ``alembic_version``; ``sync`` moves it.

Each command runs in one transaction where the database allows DDL in one
(SQLite, PostgreSQL); on MySQL every step is written so that running the command
again after an interruption finishes the job.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text

from spyglass.db import adoption
from spyglass.db.engine import Database
from spyglass.db.schema_head import VERSION_TABLE as VERSION_TABLE  # where it is declared
from spyglass.errors import SpyglassError

MIGRATIONS = Path(__file__).parent / "migrations"
UPSTREAM_ALIAS = "glance"
"""``spyglass db downgrade glance``: back to the schema upstream Glance made."""


class MigrationError(SpyglassError):
    """The schema cannot be moved as asked; the message says what to do instead."""

    code = "migration_error"


class Kind(enum.StrEnum):
    EMPTY = "empty"
    SPYGLASS = "spyglass"
    UPSTREAM = "upstream"
    """Made by upstream Glance and not adopted yet."""
    FOREIGN = "foreign"
    """Tables without a version Spyglass knows (sqlalchemy-migrate era, or something else)."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    kind: Kind
    revision: str | None
    head: str
    upstream_revision: str | None
    """Upstream Glance's revision, for databases made (or adopted) from it."""

    @property
    def current(self) -> bool:
        return self.kind is Kind.SPYGLASS and self.revision == self.head

    @property
    def known(self) -> bool:
        """False when the revision is newer than this Spyglass (written by a later release)."""
        return self.revision is None or self.revision in _revisions()

    def describe(self) -> str:
        upstream = f"upstream Glance's {self.upstream_revision}"
        if self.kind is Kind.EMPTY:
            return "empty (no schema yet): run spyglass db sync"
        if self.kind is Kind.UPSTREAM:
            return f"made by {upstream}, not adopted yet: run spyglass db sync"
        if self.kind is Kind.FOREIGN:
            return "tables without a version Spyglass knows (see README: Upgrading from Glance)"
        text_ = str(self.revision)
        if self.upstream_revision:
            text_ += f" (adopted from {upstream})"
        if not self.known:
            return text_ + ": newer than this Spyglass"
        if self.revision != self.head:
            return text_ + f": behind {self.head}, run spyglass db sync"
        return text_ + " (up to date)"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = VERSION_TABLE
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def _revisions() -> set[str]:
    return {script.revision for script in _script().walk_revisions()}


def head() -> str:
    found = _script().get_current_head()
    assert found is not None
    return found


def _spyglass_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def inspect_schema(connection: Connection) -> SchemaState:
    """What this database is: empty, Spyglass's (at which revision), or upstream Glance's."""
    revisions = _revisions()
    tables = set(inspect(connection).get_table_names())
    upstream = adoption.upstream_revision(connection, revisions)
    if VERSION_TABLE in tables:
        return SchemaState(Kind.SPYGLASS, _spyglass_revision(connection), head(), upstream)
    if adoption.UPSTREAM_VERSION_TABLE in tables:
        if upstream is not None:
            return SchemaState(Kind.UPSTREAM, None, head(), upstream)
        legacy = MigrationContext.configure(connection).get_current_revision()
        return SchemaState(Kind.SPYGLASS, legacy, head(), None)
    if tables - {"spyglass_alembic_version"}:
        return SchemaState(Kind.FOREIGN, None, head(), None)
    return SchemaState(Kind.EMPTY, None, head(), None)


def _stamp(connection: Connection, revision: str) -> None:
    command.stamp(_config(connection), revision)


def _move_legacy_version(connection: Connection) -> None:
    """Spyglass's revision out of ``alembic_version`` (earlier releases) into its own table."""
    revisions = _revisions()
    legacy = MigrationContext.configure(connection).get_current_revision()
    if legacy is None or legacy not in revisions:
        return
    _stamp(connection, legacy)
    connection.execute(text(f"DROP TABLE {adoption.UPSTREAM_VERSION_TABLE}"))


def _adopt(connection: Connection, state: SchemaState) -> None:
    missing = adoption.missing_columns(connection)
    if missing:
        raise MigrationError(
            f"this Glance database (revision {state.upstream_revision}) lacks "
            f"{', '.join(missing)}: upgrade it with upstream's glance-manage db_sync first"
        )
    adoption.add_indexes(connection)
    _stamp(connection, adoption.ADOPTION_POINT)


def _prepare(connection: Connection) -> SchemaState:
    """Adopt an upstream database, or move an old version record, before any upgrade."""
    state = inspect_schema(connection)
    if state.kind is Kind.FOREIGN:
        raise MigrationError(
            "the database has tables but no schema version Spyglass knows; if it is an old "
            "Glance database, bring it to a current release with glance-manage db_sync first"
        )
    if state.kind is Kind.UPSTREAM:
        _adopt(connection, state)
    elif state.kind is Kind.SPYGLASS and not inspect(connection).has_table(VERSION_TABLE):
        _move_legacy_version(connection)
    state = inspect_schema(connection)
    if not state.known:
        raise MigrationError(
            f"the schema is at {state.revision}, which this Spyglass does not know "
            "(a newer release wrote it); run that release's spyglass instead"
        )
    return state


def _upgrade(connection: Connection, target: str) -> None:
    _prepare(connection)
    command.upgrade(_config(connection), target)


def _downgrade(connection: Connection, target: str) -> None:
    state = _prepare(connection)
    upstream = state.upstream_revision
    if target == UPSTREAM_ALIAS:
        if upstream is None:
            raise MigrationError("this database was not adopted from upstream Glance")
        command.downgrade(_config(connection), adoption.ADOPTION_POINT)
        adoption.drop_indexes(connection)
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
        return
    if upstream is not None and target not in _revisions_from(adoption.ADOPTION_POINT):
        raise MigrationError(
            f"this database was adopted from upstream Glance at {adoption.ADOPTION_POINT}; "
            f"it cannot go below that (to hand it back to Glance: downgrade {UPSTREAM_ALIAS})"
        )
    command.downgrade(_config(connection), target)


def _revisions_from(base: str) -> set[str]:
    """``base`` and every revision above it."""
    script = _script()
    return {rev.revision for rev in script.iterate_revisions("heads", base)} | {base}


async def _on(database: Database, work: Callable[[Connection, str], None], target: str) -> None:
    def run(connection: Connection) -> None:
        try:
            work(connection, target)
        except CommandError as exc:  # alembic's, for revisions it cannot reach
            raise MigrationError(str(exc).split("\n", 1)[0]) from exc

    await database.run_on_connection(run)


async def sync_schema(database: Database) -> None:
    """Adopt or create, then run every pending migration; a no-op on an up-to-date database."""
    await _on(database, _upgrade, "head")


async def upgrade(database: Database, target: str = "head") -> None:
    _known(target)
    await _on(database, _upgrade, target)


async def downgrade(database: Database, target: str) -> None:
    """Back to ``target`` (a revision, or ``glance`` for an adopted database's way back)."""
    if target != UPSTREAM_ALIAS:
        _known(target)
    await _on(database, _downgrade, target)


def _known(target: str) -> None:
    if target in ("head", "heads", "base"):
        return
    try:
        _script().get_revision(target)
    except CommandError as exc:
        known = ", ".join(sorted(_revisions()))
        raise MigrationError(f"unknown revision {target!r} (known: {known})") from exc


async def schema_state(database: Database) -> SchemaState:
    found: list[SchemaState] = []
    await database.run_on_connection(lambda connection: found.append(inspect_schema(connection)))
    return found[0]
