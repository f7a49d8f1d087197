"""A list page reads the list index in order and stops after the page, on every database.

With a few thousand images a database may prefer another plan: MariaDB intersected the
single-column ``deleted`` and ``os_hidden`` indexes of upstream's schema and sorted every
image for each page (23 ms against 0.1 ms at 8,000 images; ``db.engine.MYSQL_SESSION``).
These tests fill a real database, refresh its statistics and read the plan the server chooses
for the pages ``openstack image list`` asks for, through Spyglass's own connections.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, text

from spyglass.db.engine import Database, create_database
from spyglass.db.listing import build_list_select
from spyglass.db.migrate import sync_schema
from spyglass.db.models import ImageRow
from spyglass.services.ports import ListQuery, SortKey
from tests.databases import drop_database, fresh_database

IMAGES = 8000
SORT = (SortKey("created_at", True), SortKey("id", True))
PAGES = {
    "admin": ListQuery(limit=20, sort=SORT, is_admin=True),
    "project": ListQuery(limit=20, sort=SORT, is_admin=False, project_id="p1"),
}


def _fill(connection: Connection) -> None:
    """Images made a few hundred a second, as a busy cloud or a benchmark makes them: many
    share a ``created_at`` second, so the page's order falls to ``id`` within one."""
    start = datetime(2026, 1, 1)
    rows = [
        {"id": str(uuid.uuid4()), "name": f"image-{n}", "status": "active",
         "visibility": ("public", "private", "shared")[n % 3], "owner": f"p{n % 4}",
         "protected": False, "os_hidden": False, "deleted": False, "min_disk": 0, "min_ram": 0,
         "created_at": start + timedelta(seconds=n // 400), "disk_format": "raw",
         "container_format": "bare"}
        for n in range(IMAGES)
    ]  # fmt: skip
    connection.execute(insert(ImageRow), rows)


def _analyze(connection: Connection) -> None:
    """Fresh statistics: the plan is the one the server picks knowing the table."""
    if connection.dialect.name == "mysql":
        connection.exec_driver_sql("ANALYZE TABLE images").fetchall()
    else:
        connection.exec_driver_sql("ANALYZE images")


@pytest.fixture(params=["postgresql", "mysql"])
async def filled(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, Database]]:
    url, name = await fresh_database(request.param, tmp_path)
    database = create_database(url)
    try:
        await sync_schema(database)
        await database.run_on_connection(_fill)
        await database.run_on_connection(_analyze)
        yield request.param, database
    finally:
        await database.dispose()
        await drop_database(request.param, name)


def _plan(connection: Connection, backend: str, query: ListQuery) -> Any:
    statement = build_list_select(query, None, connection.dialect.name)
    sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
    explain = "EXPLAIN FORMAT=JSON " if backend == "mysql" else "EXPLAIN (FORMAT JSON) "
    raw = connection.execute(text(explain + sql)).scalar_one()
    return json.loads(raw) if isinstance(raw, str) else raw


def _walk(node: Any) -> list[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a JSON plan."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in [(k, v), *_walk(v)]]
    if isinstance(node, list):
        return [pair for item in node for pair in _walk(item)]
    return []


def _sorts_and_indexes(backend: str, plan: Any) -> tuple[list[str], set[str]]:
    """The plan's sort steps (a page must have none) and the indexes it reads."""
    pairs = _walk(plan)
    if backend == "postgresql":
        sorts = [v for k, v in pairs if k == "Node Type" and "Sort" in str(v)]
        return sorts, {str(v) for k, v in pairs if k == "Index Name"}
    sorts = [k for k, v in pairs if k in ("filesort", "index_merge", "temporary_table")]
    return sorts, {str(v) for k, v in pairs if k == "key"}


@pytest.mark.parametrize("page", sorted(PAGES))
async def test_a_first_page_reads_the_list_index_without_sorting(
    filled: tuple[str, Database], page: str
) -> None:
    backend, database = filled
    plan = await database.read(lambda c: _plan(c, backend, PAGES[page]))
    sorts, indexes = _sorts_and_indexes(backend, plan)
    assert not sorts, f"{backend} sorts the table for a {page} page:\n{json.dumps(plan)}"
    assert "ix_images_list_created_at" in indexes, json.dumps(plan)
