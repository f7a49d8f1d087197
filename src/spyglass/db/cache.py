"""``image_cache_driver = centralized_db``: cache entries in the main database.

Upstream's tables: ``node_reference`` names each API server by its URL
(``worker_self_reference_url``), and ``cached_images`` holds one row per image
and server. Each server sees only its own rows, except ``nodes``, which answers
where else an image is cached.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from spyglass.cache.index import CacheEntry
from spyglass.db.engine import Database
from spyglass.db.models import CachedImageRow, NodeReferenceRow


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _epoch(when: datetime) -> float:
    return when.replace(tzinfo=UTC).timestamp()


class SqlCacheIndex:
    def __init__(self, database: Database, node_url: str) -> None:
        self.database = database
        self.node_url = node_url
        self._node_id: int | None = None

    async def open(self) -> None:
        def ensure(session: Session) -> int:
            found = session.scalar(
                select(NodeReferenceRow.node_reference_id).where(
                    NodeReferenceRow.node_reference_url == self.node_url
                )
            )
            if found is not None:
                return found
            row = NodeReferenceRow(node_reference_url=self.node_url)
            session.add(row)
            session.flush()
            return row.node_reference_id

        self._node_id = await self.database.run(ensure, write=True)

    async def close(self) -> None:
        return None

    @property
    def node_id(self) -> int:
        if self._node_id is None:
            raise RuntimeError("the cache index is not open")
        return self._node_id

    def _mine(self, image_id: str | None = None) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = [CachedImageRow.node_reference_id == self.node_id]
        if image_id is not None:
            conditions.append(CachedImageRow.image_id == image_id)
        return conditions

    async def get(self, image_id: str) -> CacheEntry | None:
        def get(session: Session) -> CacheEntry | None:
            row = session.scalars(select(CachedImageRow).where(*self._mine(image_id))).first()
            return None if row is None else _entry(row)

        return await self.database.run(get)

    async def entries(self) -> list[CacheEntry]:
        def list_all(session: Session) -> list[CacheEntry]:
            rows = session.scalars(
                select(CachedImageRow)
                .where(*self._mine())
                .order_by(CachedImageRow.last_accessed, CachedImageRow.image_id)
            )
            return [_entry(row) for row in rows]

        return await self.database.run(list_all)

    async def add(self, entry: CacheEntry) -> None:
        def add(session: Session) -> None:
            session.execute(delete(CachedImageRow).where(*self._mine(entry.image_id)))
            session.add(
                CachedImageRow(
                    image_id=entry.image_id,
                    # Whole seconds, rounded up: a DATETIME column may drop the fraction,
                    # and the file must never look newer than its entry.
                    last_modified=_when(math.ceil(entry.last_modified)),
                    last_accessed=_when(entry.last_accessed),
                    size=entry.size,
                    hits=entry.hits,
                    checksum=entry.checksum,
                    node_reference_id=self.node_id,
                )
            )

        await self.database.run(add, write=True)

    async def hit(self, image_id: str, when: float) -> None:
        def hit(session: Session) -> None:
            session.execute(
                update(CachedImageRow)
                .where(*self._mine(image_id))
                .values(hits=CachedImageRow.hits + 1, last_accessed=_when(when))
            )

        await self.database.run(hit, write=True)

    async def remove(self, image_id: str) -> bool:
        def remove(session: Session) -> bool:
            result = session.execute(delete(CachedImageRow).where(*self._mine(image_id)))
            return bool(getattr(result, "rowcount", 0))

        return await self.database.run(remove, write=True)

    async def nodes(self, image_id: str) -> list[str] | None:
        def nodes(session: Session) -> list[str]:
            urls = session.scalars(
                select(NodeReferenceRow.node_reference_url)
                .join(
                    CachedImageRow,
                    CachedImageRow.node_reference_id == NodeReferenceRow.node_reference_id,
                )
                .where(CachedImageRow.image_id == image_id)
                .order_by(NodeReferenceRow.node_reference_url)
            )
            return list(urls)

        return await self.database.run(nodes)


def _entry(row: CachedImageRow) -> CacheEntry:
    return CacheEntry(
        image_id=row.image_id,
        size=row.size,
        checksum=row.checksum,
        last_modified=_epoch(row.last_modified),
        last_accessed=_epoch(row.last_accessed),
        hits=row.hits,
    )
