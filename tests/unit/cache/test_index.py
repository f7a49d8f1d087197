"""Both cache drivers keep the same index: one contract, run by each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from spyglass.cache.index import CacheEntry, CacheIndex
from spyglass.cache.sqlite_index import SqliteCacheIndex
from spyglass.db.cache import SqlCacheIndex
from spyglass.db.engine import create_database
from spyglass.db.migrate import sync_schema


@pytest.fixture(params=["sqlite", "centralized_db"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CacheIndex]:
    if request.param == "sqlite":
        found: CacheIndex = SqliteCacheIndex(tmp_path / "cache.db")
        await found.open()
        yield found
        return
    database = create_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await sync_schema(database)
        found = SqlCacheIndex(database, "http://node-a:9292")
        await found.open()
        yield found
    finally:
        await database.dispose()


def _entry(image_id: str, accessed: float, size: int = 10) -> CacheEntry:
    return CacheEntry(image_id, size, "md5", last_modified=1000.0, last_accessed=accessed)


async def test_add_get_remove(index: CacheIndex) -> None:
    assert await index.get("a") is None
    await index.add(_entry("a", 5.0))
    entry = await index.get("a")
    assert entry is not None
    assert (entry.size, entry.checksum, entry.hits, entry.last_modified) == (10, "md5", 0, 1000.0)
    await index.add(_entry("a", 6.0, size=20))  # replaces
    assert (await index.get("a")).size == 20  # type: ignore[union-attr]
    assert await index.remove("a")
    assert not await index.remove("a")


async def test_hits_and_least_recently_used_order(index: CacheIndex) -> None:
    await index.add(_entry("a", 5.0))
    await index.add(_entry("b", 3.0))
    await index.hit("b", 9.0)
    await index.hit("b", 10.0)
    entries = await index.entries()
    assert [e.image_id for e in entries] == ["a", "b"]
    assert entries[1].hits == 2 and entries[1].last_accessed == 10.0


async def test_centralized_entries_are_per_node(tmp_path: Path) -> None:
    database = create_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await sync_schema(database)
        a, b = SqlCacheIndex(database, "http://a"), SqlCacheIndex(database, "http://b")
        await a.open()
        await b.open()
        await a.add(_entry("img", 1.0))
        assert await b.get("img") is None
        await b.add(_entry("img", 1.0))
        assert await a.nodes("img") == ["http://a", "http://b"]
        await a.remove("img")
        assert await b.nodes("img") == ["http://b"]
    finally:
        await database.dispose()
