"""What the cache knows about its complete files: size, hits, last access.

Two drivers implement :class:`CacheIndex` (``image_cache_driver``): ``sqlite``,
a small database file beside the images as upstream first shipped it, and
``centralized_db``, rows in the main database keyed by this server's node URL.
The files decide what is cached; the index only describes them, and ``clean``
makes the two agree again after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CacheEntry:
    image_id: str
    size: int
    checksum: str | None
    last_modified: float
    """Epoch seconds the file was put in place; the file may not have changed since."""
    last_accessed: float = 0.0
    hits: int = 0


class CacheIndex(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, image_id: str) -> CacheEntry | None: ...

    async def entries(self) -> list[CacheEntry]:
        """Every entry, least recently used first."""
        ...

    async def add(self, entry: CacheEntry) -> None:
        """Record a newly cached file, replacing any older entry for the image."""
        ...

    async def hit(self, image_id: str, when: float) -> None: ...

    async def remove(self, image_id: str) -> bool:
        """Forget an entry; ``False`` if there was none."""
        ...

    async def nodes(self, image_id: str) -> list[str] | None:
        """URLs of the servers caching the image; ``None`` if the driver cannot tell."""
        ...
