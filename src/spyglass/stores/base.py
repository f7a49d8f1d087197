"""The one interface every store driver implements.

Drivers move bytes and nothing else: hashing, size limits and format checks
happen once in the upload pipeline (``services/upload.py``), so a new driver is
a single small module.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from spyglass.types import ByteStream


class Capability(enum.Flag):
    NONE = 0
    READ = enum.auto()
    READ_RANGE = enum.auto()
    WRITE = enum.auto()
    DELETE = enum.auto()


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Inclusive byte offsets; ``end=None`` means to the end of the data."""

    start: int
    end: int | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    location: str
    size: int
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReadResult:
    stream: ByteStream
    size: int
    """Bytes ``stream`` will yield (the range's length for ranged reads)."""


class Store(ABC):
    """A place image bytes live, addressed by location URIs of its ``schemes``."""

    driver: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]]

    def __init__(self, backend_id: str) -> None:
        self.backend_id = backend_id

    @property
    @abstractmethod
    def capabilities(self) -> Capability: ...

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare (create directories, connect); called once at start-up."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once at shutdown."""

    @abstractmethod
    async def add(self, image_id: str, data: ByteStream, *, size: int | None) -> WriteResult:
        """Store all of ``data``; on any failure leave nothing behind and re-raise."""

    @abstractmethod
    async def get(self, location: str, *, byte_range: ByteRange | None = None) -> ReadResult:
        """Open the data at ``location``; ``NotFound`` if it is gone."""

    @abstractmethod
    async def get_size(self, location: str) -> int: ...

    @abstractmethod
    async def delete(self, location: str) -> None:
        """Remove the data; ``NotFound`` if it is already gone."""

    def image_of(self, location: str) -> str | None:
        """The image whose data this store keeps at ``location``, if it is in the
        store's own data area; ``None`` for anything else.

        A user may never point an image at another image's data, which they
        could then read, or delete along with their own image.
        """
        return None
