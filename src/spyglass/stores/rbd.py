"""Image data as RBD images in a Ceph pool (``rbd_store_*`` options), as glance_store keeps them.

One RBD image per Glance image, named after it, with objects of ``rbd_store_chunk_size``
MiB and a protected snapshot ``snap`` that Nova and Cinder clone from; locations read
``rbd://<fsid>/<pool>/<image>/snap`` (the legacy ``rbd://<image>`` still resolves, in the
configured pool). The bytes stream in object-sized writes; an image of unknown size
grows while it is written and is trimmed at the end. An image is written under a partial
name and renamed into place once whole, so an interrupted upload never leaves an image
that looks complete, and a retried upload finds no leftover in its way.

Deleting refuses with ``InUse`` (409) while clones of the snapshot exist, and leaves the
data intact. Every blocking librados/librbd call runs in a worker thread, at most
``MAX_THREADS`` at once per store (``stores/rbd_cluster.py``); downloads use librbd's
asynchronous reads, which only queue, from the event loop (``stores/rbd_read.py``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import quote, unquote

import anyio
import anyio.to_thread

from spyglass.errors import (
    BadStoreUri,
    ConfigError,
    Duplicate,
    InUse,
    SpyglassError,
    StoreUnavailable,
)
from spyglass.stores.base import (
    IMAGE_ID,
    ByteRange,
    Capability,
    ReadResult,
    Store,
    StoredObject,
    StoreOptions,
    WriteResult,
)
from spyglass.stores.rbd_cluster import (
    MAX_RESIZE_STEP,
    PARTIAL,
    SNAPSHOT,
    STALE_PARTIAL,
    Bindings,
    Cluster,
    ClusterConfig,
    Janitor,
    Writer,
    load_bindings,
)
from spyglass.stores.rbd_read import read_ahead, settle
from spyglass.streams.chunking import rechunk
from spyglass.types import ByteStream

MIB = 1024 * 1024
MAX_THREADS = 8
MIN_WRITE = 2 * MIB
"""Pieces are gathered up to this (two of the pipeline's 1 MiB chunks): half the write
operations of writing each chunk, which cost the osd measurably more CPU."""
THIN_PIECE = 2 * MIB
"""Piece size with thin provisioning: a power of two, so it divides every object size
from 2 MiB up."""
IN_FLIGHT = 4 * MIB
"""Bytes of writes in flight per upload: enough for the osd to work on a few while the
next arrive, and all the memory an upload holds beyond the pipeline's chunks."""
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")
T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RbdLocation:
    """``rbd://fsid/pool/image/snapshot`` (components percent-quoted) or legacy ``rbd://image``."""

    image: str
    pool: str | None = None
    fsid: str | None = None
    snapshot: str | None = None

    @classmethod
    def parse(cls, url: str) -> RbdLocation:
        prefix = "rbd://"
        if not url.startswith(prefix):
            raise BadStoreUri(f"Invalid location for the RBD store: {url!r}")
        pieces = url[len(prefix) :].split("/")
        if any(not piece for piece in pieces) or len(pieces) not in (1, 4):
            raise BadStoreUri("An RBD location has 1 or 4 non-empty components.")
        if len(pieces) == 1:
            return cls(unquote(pieces[0]))
        fsid, pool, image, snapshot = (unquote(piece) for piece in pieces)
        return cls(image, pool, fsid, snapshot)

    def uri(self) -> str:
        if self.fsid and self.pool and self.snapshot:
            parts = (self.fsid, self.pool, self.image, self.snapshot)
            return "rbd://" + "/".join(quote(part, safe="") for part in parts)
        return f"rbd://{quote(self.image, safe='')}"


class RbdStore(Store):
    driver: ClassVar[str] = "rbd"
    schemes: ClassVar[tuple[str, ...]] = ("rbd",)

    def __init__(
        self,
        backend_id: str,
        *,
        pool: str = "images",
        user: str | None = None,
        conffile: str = "",
        chunk_size: int = 8 * MIB,
        connect_timeout: int = -1,
        thin_provisioning: bool = False,
        bindings: Bindings | None = None,
    ) -> None:
        super().__init__(backend_id)
        if chunk_size < 4096:
            raise ConfigError(f"Store {backend_id}: rbd_store_chunk_size is below 4 KiB")
        self.pool = pool
        self.chunk_size = chunk_size
        self.order = chunk_size.bit_length() - 1
        """log2 of the object size (upstream's rounding for sizes that are no power of 2)."""
        self.thin_provisioning = thin_provisioning
        config = ClusterConfig(backend_id, conffile, user, pool, connect_timeout)
        self.cluster = Cluster(bindings or load_bindings(), config)
        self.janitor = Janitor(self.cluster)
        self._limiter: anyio.CapacityLimiter | None = None

    @classmethod
    def from_options(cls, backend_id: str, options: StoreOptions) -> Self:
        chunk = options.get("rbd_store_chunk_size")
        timeout = options.get("rados_connect_timeout")
        user = options.get("rbd_store_user")
        return cls(
            backend_id,
            pool=str(options.get("rbd_store_pool") or "images"),
            user=str(user) if user else None,
            conffile=str(options.get("rbd_store_ceph_conf") or ""),
            chunk_size=(chunk if isinstance(chunk, int) else 8) * MIB,
            connect_timeout=timeout if isinstance(timeout, int) else -1,
            thin_provisioning=bool(options.get("rbd_thin_provisioning")),
        )

    @property
    def capabilities(self) -> Capability:
        return Capability.READ | Capability.READ_RANGE | Capability.WRITE | Capability.DELETE

    def properties(self) -> Mapping[str, object]:
        return {
            "chunk_size": self.chunk_size,
            "pool": self.pool,
            "thin_provisioning": self.thin_provisioning,
        }

    async def _run(self, action: str, func: Callable[..., T], *args: object) -> T:
        """``func(*args)`` in a worker thread, with the bindings' errors translated."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(MAX_THREADS)
        try:
            return await anyio.to_thread.run_sync(
                functools.partial(func, *args), limiter=self._limiter
            )
        except Exception as exc:
            translated = self.cluster.translate(exc, action)
            if translated is exc:
                raise
            raise translated from None

    async def open(self) -> None:
        """Connect, learn the cluster's fsid and check the pool exists; a pool that
        is missing leaves the store read-only.
        Partial images of uploads that a killed server left are handed to the janitor."""
        await self._run("connecting", self.cluster.connected)
        await self._run("checking the pool", self.cluster.check_pool)
        try:
            stale = await self._run("listing images", self.cluster.stale_partials, STALE_PARTIAL)
        except SpyglassError as exc:
            log.warning(
                "store %s: leftovers of crashed uploads not looked for: %s",
                self.backend_id,
                exc.message,
            )
            return
        for name in stale:
            log.info("store %s: removing %s, left by an interrupted upload", self.backend_id, name)
            await self._run("removing a partial image", self.janitor.discard, name)

    async def close(self) -> None:
        await self._run("disconnecting", self.cluster.shutdown)

    def location_of(self, url: str) -> RbdLocation:
        """``url`` parsed, if it names a finished image in this store's pool (the legacy
        ``rbd://image`` always does); else ``BadStoreUri``.

        Another pool or another cluster is refused, as the S3 store refuses another
        bucket: the pool is the store's data area, and a location elsewhere could name
        data of Cinder, Nova or another tenant, which an image owner who may set
        locations could then read, or delete along with the image. An operator with
        images in several pools configures a backend for each (multi-store).
        """
        location = RbdLocation.parse(url)
        if not _SAFE_NAME.match(location.image) or PARTIAL in location.image:
            raise BadStoreUri("Invalid RBD image name in the location.")
        fsid = self.cluster.fsid
        foreign_cluster = location.fsid is not None and fsid is not None and location.fsid != fsid
        if location.pool not in (None, self.pool) or foreign_cluster:
            raise BadStoreUri(
                f"Location is outside store {self.backend_id}'s Ceph cluster and pool."
            )
        return location

    async def _located(self, url: str) -> RbdLocation:
        """:meth:`location_of` once connected, so that the cluster's fsid is known."""
        await self._run("connecting", self.cluster.connected)
        return self.location_of(url)

    def image_of(self, location: str) -> str | None:
        try:
            return self.location_of(location).image
        except BadStoreUri:
            return None

    async def inventory(self) -> AsyncIterator[StoredObject]:
        """The pool's finished images named as image ids (other RBD images of a shared pool,
        such as Cinder's or Nova's, are not this store's; partial images are the janitor's)."""
        await self._run("connecting", self.cluster.connected)
        listed = await self._run("listing images", self.cluster.listing)
        fsid = self.cluster.fsid
        for name, size, written in listed:
            if IMAGE_ID.match(name):
                location = RbdLocation(name, self.pool, fsid, SNAPSHOT) if fsid else None
                yield StoredObject((location or RbdLocation(name)).uri(), size, written)

    def location_key(self, location: str) -> str:
        """Locations name the same data with or without the cluster's fsid and pool."""
        image = self.image_of(location)
        return f"rbd:{image}" if image is not None else location

    # -- writing ------------------------------------------------------------------------

    async def add(self, image_id: str, data: ByteStream, *, size: int | None) -> WriteResult:
        if not _SAFE_NAME.match(image_id) or PARTIAL in image_id:
            raise BadStoreUri(f"Invalid image id for the RBD store: {image_id!r}")
        await self._run("connecting", self.cluster.connected)
        if await self._run("looking for the image", self.cluster.exists, None, image_id):
            raise Duplicate(f"Image data for {image_id} already exists in store {self.backend_id}.")
        partial = f"{image_id}{PARTIAL}{uuid.uuid4().hex[:12]}"
        writer = self.cluster.session()
        image = None
        finishing = False
        try:
            create = writer.create
            image = await self._run("creating the image", create, partial, size or 0, self.order)
            written = await self._write(image, data, size or 0, known=size is not None)
            finishing = True
            await self._run(
                "snapshotting the image", writer.finish, image, written, partial, image_id
            )
        except BaseException:
            with anyio.CancelScope(shield=True):  # the client may be gone; clean up anyway
                if image is not None and not finishing:
                    await anyio.to_thread.run_sync(_close_quietly, image)
                await anyio.to_thread.run_sync(writer.shutdown)
                await anyio.to_thread.run_sync(self.janitor.discard, partial)
            raise
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(writer.shutdown)
        fsid = self.cluster.fsid
        location = RbdLocation(image_id, self.pool, fsid, SNAPSHOT) if fsid else None
        return WriteResult(location=(location or RbdLocation(image_id)).uri(), size=written)

    async def _write(self, image: Any, data: ByteStream, capacity: int, *, known: bool) -> int:
        """Write the stream's chunks where they fall, ``IN_FLIGHT`` bytes of them at once;
        grow the image when it is too small (doubling the step up to 8 GiB when the size
        is unknown). Returns the bytes written. Whatever ends the upload, no chunk is
        released before librbd is done with it."""
        writer = Writer(image, budget=IN_FLIGHT, thin=self.thin_provisioning)
        offset, step = 0, self.chunk_size
        try:
            async for chunk in self._chunks(data):
                end = offset + len(chunk)
                grow_to = None
                if end > capacity:
                    if not known:
                        step = min(step * 2, MAX_RESIZE_STEP)
                    capacity = grow_to = max(end, capacity + step)
                await self._run("writing", writer.write, chunk, offset, grow_to)
                offset = end
            await self._run("writing", writer.drain)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(writer.abandon)
            raise
        return offset

    def _chunks(self, data: ByteStream) -> ByteStream:
        """The pipeline's chunks as they are; with thin provisioning, pieces that never
        straddle two objects, so that a run of zeros skips whole objects."""
        if self.thin_provisioning:
            return _aligned_pieces(data, min(1 << self.order, THIN_PIECE))
        return rechunk(data, min(1 << self.order, MIN_WRITE))

    # -- reading ------------------------------------------------------------------------

    async def get(self, location: str, *, byte_range: ByteRange | None = None) -> ReadResult:
        loc = await self._located(location)
        total = await self._run(
            "reading the size", self.cluster.size, loc.pool, loc.image, loc.snapshot
        )
        start = byte_range.start if byte_range else 0
        end = total - 1 if byte_range is None or byte_range.end is None else byte_range.end
        length = max(0, min(end, total - 1) - start + 1)
        return ReadResult(stream=self._read(loc, start, length), size=length)

    async def _read(self, loc: RbdLocation, start: int, length: int) -> ByteStream:
        """Stream ``length`` bytes from ``start``, a few reads ahead (``stores/rbd_read.py``);
        the image closes however the read ends, once librbd is done with it."""
        if length <= 0:
            return
        image = await self._run(
            "opening the image", self.cluster.open_for_reading, loc.pool, loc.image, loc.snapshot
        )
        unsettled: list[Any] = []
        try:
            async with contextlib.aclosing(
                read_ahead(image, start, start + length, unsettled)
            ) as pieces:
                async for chunk in pieces:
                    yield chunk
        except OSError as exc:
            raise self.cluster.translate(exc, "reading") from None
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_settle_and_close, image, unsettled)

    async def get_size(self, location: str) -> int:
        loc = await self._located(location)
        return await self._run(
            "reading the size", self.cluster.size, loc.pool, loc.image, loc.snapshot
        )

    # -- deleting -----------------------------------------------------------------------

    async def check_deletable(self, location: str) -> None:
        """``InUse`` while clones of the image's snapshot exist."""
        loc = await self._located(location)
        clones = self.cluster.has_clones
        if await self._run("listing clones", clones, loc.pool, loc.image, loc.snapshot):
            raise self._in_use()

    async def delete(self, location: str) -> None:
        loc = await self._located(location)
        try:
            await self._run("deleting", self.cluster.delete, loc.pool, loc.image, loc.snapshot)
        except InUse:
            raise self._in_use() from None

    async def discard_partial(self, image_id: str) -> None:
        """A killed server's upload: partial images, and a finished image the database never
        recorded (an image still ``saving`` has no location, so nothing can clone it)."""
        if not _SAFE_NAME.match(image_id):
            return
        try:
            names = await self._run("listing images", self.cluster.images_of, image_id)
            for name in names:
                if name == image_id:
                    await self._run("deleting", self.cluster.delete, None, name, SNAPSHOT)
                else:
                    await self._run("removing a partial image", self.janitor.discard, name)
        except StoreUnavailable:
            log.warning(
                "store %s: cannot remove image %s's partial upload now", self.backend_id, image_id
            )

    def _in_use(self) -> InUse:
        return InUse(
            "The image cannot be deleted because it is in use through the backend store "
            f"outside of Glance (clones of its snapshot in store {self.backend_id})."
        )


async def _aligned_pieces(source: ByteStream, size: int) -> ByteStream:
    """The stream in pieces of exactly ``size`` bytes (the last may be shorter)."""
    pending = bytearray()
    async for piece in source:
        pending += piece
        while len(pending) >= size:
            with memoryview(pending) as view:
                chunk = bytes(view[:size])
            del pending[:size]
            yield chunk
    if pending:
        yield bytes(pending)


def _settle_and_close(image: Any, unsettled: list[Any]) -> None:
    settle(unsettled)
    _close_quietly(image)


def _close_quietly(image: Any) -> None:
    with contextlib.suppress(Exception):
        image.close()
