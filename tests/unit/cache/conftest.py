"""An image cache on a temporary directory, and stores that count their reads."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from spyglass.cache.cache import ImageCache, Source
from spyglass.cache.layout import CacheLayout
from spyglass.cache.sqlite_index import SqliteCacheIndex
from spyglass.domain.image import Image, ImageStatus
from spyglass.stores.base import ByteRange, ReadResult
from spyglass.types import ByteStream

NOW = datetime(2026, 1, 1, 12, 0, 0)


def image_of(data: bytes, image_id: str = "11111111-1111-4111-8111-111111111111") -> Image:
    return Image(
        id=image_id, created_at=NOW, updated_at=NOW, status=ImageStatus.ACTIVE,
        size=len(data), checksum=hashlib.md5(data).hexdigest(), os_hash_algo="sha512",
        os_hash_value=hashlib.sha512(data).hexdigest(),
    )  # fmt: skip


@dataclass
class FakeStore:
    """The image's bytes in chunks; ``gate`` (when set) holds each chunk until released."""

    data: bytes
    chunk: int = 256 * 1024
    opened: int = 0
    gate: asyncio.Event | None = None
    sent: int = 0
    closed: list[bool] = field(default_factory=list)

    def source(self) -> Source:
        async def open_store(part: ByteRange | None) -> ReadResult:
            self.opened += 1
            start = part.start if part else 0
            return ReadResult(stream=self._stream(start), size=len(self.data) - start)

        return open_store

    async def _stream(self, offset: int = 0) -> ByteStream:
        try:
            for start in range(offset, len(self.data), self.chunk):
                if self.gate is not None:
                    await self.gate.wait()
                piece = self.data[start : start + self.chunk]
                self.sent += len(piece)
                yield piece
                await asyncio.sleep(0)
        finally:
            self.closed.append(True)


@pytest.fixture
async def cache(tmp_path: Path) -> ImageCache:
    layout = CacheLayout(tmp_path / "cache", index_file="cache.db")
    found = ImageCache(layout, SqliteCacheIndex(layout.root / "cache.db"), node="test-node")
    await found.open()
    return found


async def drain(result: ReadResult | None) -> bytes:
    assert result is not None
    return b"".join([chunk async for chunk in result.stream])


async def settle(cache: ImageCache) -> None:
    """Wait until no fill is running."""
    await asyncio.wait_for(cache.idle(), 10)
