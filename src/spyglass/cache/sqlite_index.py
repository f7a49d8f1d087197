"""``image_cache_driver = sqlite``: the index in a SQLite file inside the cache directory.

The table is upstream's (``cached_images``: image_id, last_accessed,
last_modified, size, hits, checksum), so an existing ``cache.db`` reads. Every
call opens its own connection in a worker thread; SQLite's locking lets the
API server's workers and the ``spyglass cache`` command share the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from spyglass.cache.index import CacheEntry

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cached_images (
    image_id TEXT PRIMARY KEY,
    last_accessed REAL DEFAULT 0.0,
    last_modified REAL DEFAULT 0.0,
    size INTEGER DEFAULT 0,
    hits INTEGER DEFAULT 0,
    checksum TEXT
)
"""
_COLUMNS = "image_id, size, checksum, last_modified, last_accessed, hits"


class SqliteCacheIndex:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._limiter = anyio.CapacityLimiter(4)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            connection = self._connect()
            try:
                return work(connection)
            finally:
                connection.close()

        return await anyio.to_thread.run_sync(run, limiter=self._limiter)

    async def open(self) -> None:
        def create(connection: sqlite3.Connection) -> None:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)

        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._run(create)

    async def close(self) -> None:
        return None

    async def get(self, image_id: str) -> CacheEntry | None:
        def get(connection: sqlite3.Connection) -> CacheEntry | None:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM cached_images WHERE image_id = ?", (image_id,)
            ).fetchone()
            return None if row is None else _entry(row)

        return await self._run(get)

    async def entries(self) -> list[CacheEntry]:
        def list_all(connection: sqlite3.Connection) -> list[CacheEntry]:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM cached_images ORDER BY last_accessed, image_id"
            ).fetchall()
            return [_entry(row) for row in rows]

        return await self._run(list_all)

    async def add(self, entry: CacheEntry) -> None:
        def add(connection: sqlite3.Connection) -> None:
            connection.execute(
                f"INSERT OR REPLACE INTO cached_images ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    entry.image_id,
                    entry.size,
                    entry.checksum,
                    entry.last_modified,
                    entry.last_accessed,
                    entry.hits,
                ),
            )

        await self._run(add)

    async def hit(self, image_id: str, when: float) -> None:
        def hit(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE cached_images SET hits = hits + 1, last_accessed = ? WHERE image_id = ?",
                (when, image_id),
            )

        await self._run(hit)

    async def remove(self, image_id: str) -> bool:
        def remove(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute("DELETE FROM cached_images WHERE image_id = ?", (image_id,))
            return cursor.rowcount > 0

        return await self._run(remove)

    async def nodes(self, image_id: str) -> list[str] | None:
        return None


def _entry(row: tuple[object, ...]) -> CacheEntry:
    image_id, size, checksum, modified, accessed, hits = row
    return CacheEntry(
        image_id=str(image_id),
        size=int(size or 0),  # type: ignore[call-overload]
        checksum=None if checksum is None else str(checksum),
        last_modified=float(modified or 0.0),  # type: ignore[arg-type]
        last_accessed=float(accessed or 0.0),  # type: ignore[arg-type]
        hits=int(hits or 0),  # type: ignore[call-overload]
    )
