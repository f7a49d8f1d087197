"""Is the schema current? The question every ``spyglass api`` start asks, without alembic.

Importing alembic and loading every migration script cost the start-up about a quarter
of a CPU-second, to learn what one row says on every database but a new or an old one.
``HEAD`` names the newest revision under ``db/migrations/versions`` (a test keeps the two
equal); when the database records it, there is nothing to upgrade, adopt or refuse, and
anything else goes the long way, through ``db.migrate``.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text

from spyglass.db.engine import Database

VERSION_TABLE = "spyglass_alembic_version"
HEAD = "0009_notification_request_ids"


def _records_head(connection: Connection) -> bool:
    if not inspect(connection).has_table(VERSION_TABLE):
        return False
    found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    return list(found) == [HEAD]


async def at_head(database: Database) -> bool:
    """True when the schema is at this release's ``HEAD`` (what ``db sync`` leaves)."""
    found: list[bool] = []
    await database.run_on_connection(lambda connection: found.append(_records_head(connection)))
    return found[0]
