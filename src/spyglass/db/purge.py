"""``spyglass db purge``: remove soft-deleted rows, as ``glance-manage db purge`` does.

Every table with ``deleted``/``deleted_at`` columns is purged of rows deleted
more than ``age_in_days`` ago, at most ``max_rows`` per table (-1: all), except
``images``: a purged image row lets its id be reused, which upstream's OSSN-0075
warns about, so image rows stay (as upstream keeps them outside ``purge``).
``task_info`` rows of purged tasks go first (they have no ``deleted`` of
their own), then child tables before the tables they reference.

The purge is one transaction: interrupted, it removed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, MetaData, Table, delete, inspect, select

from spyglass.db.engine import Database
from spyglass.timeutils import utcnow

KEPT = frozenset({"images"})
BATCH = 1000


@dataclass(frozen=True, slots=True)
class PurgeReport:
    deleted: dict[str, int]


def _soft_deleted_tables(connection: Connection) -> list[Table]:
    """Tables with soft delete, children first (the order deletes satisfy foreign keys)."""
    metadata = MetaData()
    inspector = inspect(connection)
    names = [
        name
        for name in inspector.get_table_names()
        if {"deleted", "deleted_at"} <= {column["name"] for column in inspector.get_columns(name)}
    ]
    metadata.reflect(connection, only=names)
    return [table for table in reversed(metadata.sorted_tables) if table.name not in KEPT]


def _purge_task_info(connection: Connection, before: datetime, max_rows: int) -> int:
    inspector = inspect(connection)
    if not (inspector.has_table("task_info") and inspector.has_table("tasks")):
        return 0
    metadata = MetaData()
    tasks = Table("tasks", metadata, autoload_with=connection)
    info = Table("task_info", metadata, autoload_with=connection)
    query = (
        select(info.c.task_id)
        .join(tasks, tasks.c.id == info.c.task_id)
        .where(tasks.c.deleted_at < before)
        .order_by(tasks.c.deleted_at)
    )
    return _delete_batches(connection, info, info.c.task_id, query, max_rows)


def _delete_batches(
    connection: Connection, table: Table, key: object, query: object, max_rows: int
) -> int:
    deleted = 0
    while max_rows < 0 or deleted < max_rows:
        size = BATCH if max_rows < 0 else min(BATCH, max_rows - deleted)
        ids = [row[0] for row in connection.execute(query.limit(size))]  # type: ignore[attr-defined]
        if not ids:
            break
        connection.execute(delete(table).where(key.in_(ids)))  # type: ignore[attr-defined]
        deleted += len(ids)
    return deleted


def _purge(connection: Connection, before: datetime, max_rows: int) -> dict[str, int]:
    report = {"task_info": _purge_task_info(connection, before, max_rows)}
    for table in _soft_deleted_tables(connection):
        key = next(iter(table.primary_key.columns))
        query = (
            select(key)
            .where(table.c.deleted.is_(True), table.c.deleted_at < before)
            .order_by(table.c.deleted_at)
        )
        report[table.name] = _delete_batches(connection, table, key, query, max_rows)
    return report


async def purge(database: Database, *, age_in_days: int, max_rows: int) -> PurgeReport:
    before = utcnow() - timedelta(days=age_in_days)
    found: dict[str, int] = {}

    def work(connection: Connection) -> None:
        found.update(_purge(connection, before, max_rows))

    await database.run_on_connection(work)
    return PurgeReport(deleted=found)
