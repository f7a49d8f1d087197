"""Listings stay index-backed: no full scans and no sorts of the whole table.

SQLite's query plan is checked for the listings the API serves most: the
default order, the indexed sort keys, a marker deep in the table, filters and
a non-admin's visibility rules.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite

from spyglass.db.engine import create_database
from spyglass.db.listing import build_list_select
from spyglass.db.migrate import sync_schema
from spyglass.db.models import ImageRow
from spyglass.services.ports import ListQuery, SortKey


def _sort(key: str, descending: bool = True) -> tuple[SortKey, ...]:
    keys = [SortKey(key, descending)]
    keys += [SortKey(k, descending) for k in ("created_at", "id") if k != key]
    return tuple(keys)


MARKER = ImageRow(
    id="5d054d62-652b-4fc3-98f3-032a71483c46", name="m", size=5,
    created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 2),
)  # fmt: skip

QUERIES = {
    "default": (ListQuery(limit=25, sort=_sort("created_at")), None),
    "name asc": (ListQuery(limit=25, sort=_sort("name", False)), None),
    "name desc": (ListQuery(limit=25, sort=_sort("name")), None),
    "updated_at": (ListQuery(limit=25, sort=_sort("updated_at")), None),
    "size": (ListQuery(limit=25, sort=_sort("size", False)), None),
    "deep marker": (ListQuery(limit=25, sort=_sort("created_at")), MARKER),
    "deep marker by name": (ListQuery(limit=25, sort=_sort("name", False)), MARKER),
    "filters": (
        ListQuery(
            limit=25,
            sort=_sort("created_at"),
            exact={"status": ("active",)},
            properties={"hw_disk_bus": "scsi"},
            tags=("t",),
        ),
        None,
    ),
    "non-admin": (
        ListQuery(limit=25, sort=_sort("created_at"), is_admin=False, project_id="p1"),
        None,
    ),
}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import asyncio

    path = tmp_path_factory.mktemp("plans") / "db.sqlite"

    async def migrate() -> None:
        engine = create_database(f"sqlite:///{path}")
        await sync_schema(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return path


@pytest.mark.parametrize("name", list(QUERIES))
def test_listing_uses_an_index_in_order(database: Path, name: str) -> None:
    query, marker = QUERIES[name]
    statement = build_list_select(query, marker, "sqlite").compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    with sqlite3.connect(database) as connection:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}")]
    assert not any("TEMP B-TREE" in step for step in plan), plan
    assert not any(step.startswith("SCAN images") for step in plan), plan
    assert any("USING INDEX ix_images_list_" in step for step in plan), plan


def test_loading_children_seeks_by_image(database: Path) -> None:
    from spyglass.db.rows import children_select

    ids = ["5d054d62-652b-4fc3-98f3-032a71483c46"]
    statement = children_select(lambda image_id: image_id.in_(ids)).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    with sqlite3.connect(database) as connection:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}")]
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert len(searches) == 3, plan
    assert all("image_id=?" in step for step in searches), plan


def test_a_show_seeks_the_image_and_its_children_by_id(database: Path) -> None:
    from spyglass.db.rows import SHOW

    image_id = "5d054d62-652b-4fc3-98f3-032a71483c46"
    statement = SHOW.params(image_id=image_id).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    with sqlite3.connect(database) as connection:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}")]
    searches = [step for step in plan if step.startswith("SEARCH")]
    scans = [step for step in plan if step.startswith("SCAN")]
    assert len(searches) == 4 and scans == ["SCAN anon_1 LEFT-JOIN"], plan  # what was found
    assert sum("image_id=?" in step for step in searches) == 3, plan
