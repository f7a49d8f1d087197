"""The one interface every store driver implements.

Drivers move bytes and nothing else: hashing, size limits and format checks
happen once in the upload pipeline (``services/upload.py``), so a new driver is
a single small module.
"""

from __future__ import annotations

import enum
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol, Self

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


@dataclass(eq=False, slots=True)
class LocalFile:
    """The bytes of a read as a span of an open local file.

    A store or cache that reads a plain file offers it beside its stream, so that the
    HTTP layer may have the kernel send the span (``sendfile``) instead of copying it
    through Python. Whoever ends the read, the stream or the zero-copy send, closes the
    descriptor through ``close``, which is safe to call twice.
    """

    path: Path
    fd: int
    offset: int
    length: int
    file_size: int
    on_sent: Callable[[int], Awaitable[None]] | None = None
    """Told how many bytes a zero-copy send handed over (a streamed read counts its own)."""

    @property
    def whole(self) -> bool:
        """The span is the entire file (what ``pathsend``, which takes only a path, sends)."""
        return self.offset == 0 and self.length == self.file_size

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class ReadResult:
    stream: ByteStream
    size: int
    """Bytes ``stream`` will yield (the range's length for ranged reads)."""
    local: LocalFile | None = None
    """The same bytes as a span of a local file, when they are one (see ``LocalFile``)."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One piece of image data a store holds, as ``Store.inventory`` lists it."""

    location: str
    """The location ``add`` returned for it (what an image's location would say)."""
    size: int
    modified: datetime
    """When it was last written (timezone-aware UTC): ``spyglass gc`` leaves young data
    alone, since an upload records its location only once all of it is written."""


@dataclass(frozen=True, slots=True)
class UnfinishedWrite:
    """A write a store began and never finished nor undid (an S3 multipart upload a killed
    server left): it holds storage, but no data anyone can read, and no location names it."""

    image_id: str
    handle: str
    """What the driver needs to undo it (the S3 upload id)."""
    modified: datetime
    """When it was last written to (timezone-aware UTC): ``spyglass gc`` leaves recent ones
    alone, since a large upload in flight looks the same."""


IMAGE_ID = re.compile("-".join(f"[0-9a-fA-F]{{{n}}}" for n in (8, 4, 4, 4, 12)) + r"\Z")
"""How the data of an image is named in stores keyed by image id (ids are UUIDs): an
``inventory`` of a bucket, container or pool others may share lists only these."""


class InventoryUnsupported(NotImplementedError):
    """This driver cannot list what it holds (``spyglass gc`` skips the store)."""


class StoreOptions(Protocol):
    """One backend's configuration, as a driver's ``from_options`` reads it."""

    @property
    def data_dir(self) -> Path:
        """Spyglass's data directory (``--data-dir``), for drivers with local defaults."""
        ...

    def get(self, name: str) -> object:
        """The typed value of option ``name`` of this backend (its default when unset).

        Multi-store reads the backend's own section; single-store reads
        ``[glance_store]`` and, for seed-era files, ``[DEFAULT]``.
        """
        ...

    def server_option(self, section: str, name: str) -> object:
        """Any option of the server's configuration, for drivers bound by server-wide
        rules (the HTTP store obeys ``[import_filtering_opts]``)."""
        ...


class Store(ABC):
    """A place image bytes live, addressed by location URIs of its ``schemes``."""

    driver: ClassVar[str]
    schemes: ClassVar[tuple[str, ...]]

    def __init__(self, backend_id: str) -> None:
        self.backend_id = backend_id

    @classmethod
    def from_options(cls, backend_id: str, options: StoreOptions) -> Self:
        """Build the driver from its backend's options; raise ``ConfigError`` for
        values no server could use (checks that need the backend belong in ``open``)."""
        return cls(backend_id)

    @property
    @abstractmethod
    def capabilities(self) -> Capability: ...

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare (create directories, connect, check the bucket); called at start-up.

        Raise ``StoreMisconfigured`` (wrong credentials, missing bucket) or
        ``StoreUnavailable`` (backend down): the server then starts with this
        store read-only, logs the reason, and calls ``open`` again before a later
        write. Messages name the backend id and never carry credentials.
        """

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

    async def check_deletable(self, location: str) -> None:  # noqa: B027 - optional hook
        """Raise ``InUse`` when the backend would refuse to delete the data now (clones
        of an RBD snapshot), so that deleting the image is refused before it starts."""

    async def discard_partial(self, image_id: str) -> None:  # noqa: B027 - optional hook
        """Remove what an ``add`` of ``image_id`` that was cut off by a crash left behind
        (partial files, unfinished multipart uploads, segments). Called only once no
        server writes that image any more (``services/recovery.py``)."""

    def inventory(self) -> AsyncIterator[StoredObject]:
        """Every piece of image data this store holds in its own data area (not partial
        writes, which ``discard_partial`` handles), for orphan collection.

        Optional: the default raises ``InventoryUnsupported`` when iterated.
        """
        return _Unsupported(self.driver)

    def unfinished_writes(self) -> AsyncIterator[UnfinishedWrite]:
        """Writes begun in this store's own data area and never finished or undone, for
        ``spyglass gc`` to abort once they are older than its grace period. Optional:
        drivers whose writes leave nothing half-made list none."""
        return _Nothing()

    async def abort_unfinished(self, write: UnfinishedWrite) -> None:  # noqa: B027
        """Undo one of ``unfinished_writes`` (free what it holds); gone already is fine."""

    def location_key(self, location: str) -> str:
        """``location`` in one canonical spelling, so that a location recorded in the
        database and the same data listed by ``inventory`` compare equal."""
        return location

    def properties(self) -> Mapping[str, object]:
        """What ``GET /v2/info/stores/detail`` shows as this store's ``properties``
        (upstream's keys for the driver type; never a credential)."""
        return {}

    def image_of(self, location: str) -> str | None:
        """The image whose data this store keeps at ``location``, if it is in the
        store's own data area; ``None`` for anything else.

        A user may never point an image at another image's data, which they
        could then read, or delete along with their own image.
        """
        return None


class _Nothing(AsyncIterator[UnfinishedWrite]):
    """An empty listing."""

    async def __anext__(self) -> UnfinishedWrite:
        raise StopAsyncIteration


class _Unsupported(AsyncIterator[StoredObject]):
    """An inventory that refuses on its first step."""

    def __init__(self, driver: str) -> None:
        self.driver = driver

    async def __anext__(self) -> StoredObject:
        raise InventoryUnsupported(f"the {self.driver} store cannot list its data")
