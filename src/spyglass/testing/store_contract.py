"""The behaviour every store driver must show, as one pytest class to subclass.

A driver's test module (Spyglass's own or a third party's) subclasses
:class:`StoreContract`, provides the ``store`` fixture (an opened store in a
fresh namespace, on the real backend) and the ``backend_objects`` hook, and
overrides the optional hooks its backend can support; cases whose hook is not
overridden skip with the reason. See ``docs/stores.md``.

The cases feed data in odd-sized pieces around ``threshold``, the size at which
the driver switches to multipart uploads or segments, so that the switch, the
part boundaries and the last short part are all exercised. Every case checks
that the backend holds nothing it did not hold before, once the case is over:
no partial object, no orphan part or segment.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit

import anyio
import anyio.lowlevel
import pytest

from spyglass.errors import (
    ImageTooLarge,
    NotFound,
    SpyglassError,
    StorageFull,
    StoreMisconfigured,
    StoreUnavailable,
)
from spyglass.stores.base import ByteRange, Capability, Store, WriteResult
from spyglass.types import ByteStream

__all__ = ["Misconfigured", "StoreContract", "payload"]


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` reproducible, incompressible bytes."""
    return random.Random(size * 7919 + seed).randbytes(size)


@dataclass(frozen=True, slots=True)
class Misconfigured:
    """A store built with wrong credentials (or, for a driver without any, a
    configuration no write can succeed with), not yet opened; ``secrets`` are the
    credential values that must appear in no error message."""

    store: Store
    secrets: Collection[str] = ()


class StoreContract:
    """Subclass in a test module; pytest then runs every case against your store.

    Fixtures to provide (override with ``@pytest.fixture``):

    * ``store``: the store under test, opened, in a fresh namespace (bucket,
      container, pool prefix or directory); close it in the fixture's teardown.
    * ``threshold`` (default 256 KiB): bytes at which the driver switches to
      multipart or segments. Build ``store`` with its chunk options shrunk so
      that ``3 * threshold`` stays small (a few MiB).

    Hooks to override (async methods; the optional ones skip their case when
    left alone):

    * ``backend_objects(store)`` (required): the names of everything in the
      store's namespace on the backend (objects, parts, segments, incomplete
      multipart uploads, RBD images and snapshots), read with the backend's own
      client, not through the driver.
    * ``stop_backend(store)`` / ``start_backend(store)``: make the backend
      unreachable and bring it back (stop the server, block its port).
    * ``misconfigured_store(store)``: a :class:`Misconfigured` store.
    * ``storage_full(store)``: an async context manager inside which the
      backend has no space left.
    * ``seed(store, image_id, data)``: for read-only drivers, put ``data`` on
      the backend and return its location (writable drivers use ``add``).

    Class attributes: ``piece`` (size of the pieces fed to ``add``),
    ``cleanup_seconds`` (how long a driver may take, once the backend is back,
    to remove what a failed upload left), ``outage_seconds`` (how long an
    upload may take to fail once the backend stopped), ``secrets`` (values
    that must never appear in a location).
    """

    piece: ClassVar[int] = 65_521
    cleanup_seconds: ClassVar[float] = 10.0
    outage_seconds: ClassVar[float] = 60.0
    secrets: ClassVar[tuple[str, ...]] = ()

    # -- fixtures and hooks ---------------------------------------------------------------

    @pytest.fixture
    def store(self) -> Store:
        raise NotImplementedError("a StoreContract subclass provides the `store` fixture")

    @pytest.fixture
    def threshold(self) -> int:
        return 256 * 1024

    async def backend_objects(self, store: Store) -> Collection[str]:
        raise NotImplementedError("a StoreContract subclass lists the backend's objects")

    async def stop_backend(self, store: Store) -> None:
        raise NotImplementedError

    async def start_backend(self, store: Store) -> None:
        raise NotImplementedError

    async def misconfigured_store(self, store: Store) -> Misconfigured:
        raise NotImplementedError

    def storage_full(self, store: Store) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    async def seed(self, store: Store, image_id: str, data: bytes) -> str:
        raise NotImplementedError

    # -- add, get, get_size ---------------------------------------------------------------

    @pytest.mark.parametrize("shape", ["empty", "small", "threshold", "three_thresholds"])
    async def test_add_and_get(self, store: Store, threshold: int, shape: str) -> None:
        size = {"empty": 0, "small": 1000, "threshold": threshold}.get(shape, 3 * threshold)
        before = await self._objects(store)
        data = payload(size)
        location = await self._put(store, data, size=size)
        assert await self._read(store, location) == data
        assert await store.get_size(location) == size
        await self._remove(store, location)
        await self._settled(store, before)

    async def test_add_of_unknown_size(self, store: Store, threshold: int) -> None:
        self._require(store, Capability.WRITE)
        before = await self._objects(store)
        data = payload(3 * threshold + 1234)
        written = await store.add(_image_id(), _pieces(data, self.piece), size=None)
        self._check_written(store, written, len(data))
        assert await self._read(store, written.location) == data
        assert await store.get_size(written.location) == len(data)
        await self._remove(store, written.location)
        await self._settled(store, before)

    @pytest.mark.parametrize("where", ["start", "middle", "suffix"])
    async def test_ranged_get(self, store: Store, threshold: int, where: str) -> None:
        self._require(store, Capability.READ_RANGE)
        data = payload(3 * threshold + 100)
        location = await self._put(store, data, size=len(data))
        wanted = {
            "start": ByteRange(0, 99),
            "middle": ByteRange(threshold - 50, 2 * threshold + 49),  # across part boundaries
            "suffix": ByteRange(len(data) - 100),
        }[where]
        end = len(data) if wanted.end is None else wanted.end + 1
        result = await store.get(location, byte_range=wanted)
        assert result.size == end - wanted.start
        assert b"".join([chunk async for chunk in result.stream]) == data[wanted.start : end]
        await self._remove(store, location)

    # -- delete and missing data ----------------------------------------------------------

    async def test_delete_twice(self, store: Store) -> None:
        self._require(store, Capability.DELETE)
        before = await self._objects(store)
        location = await self._put(store, payload(5000), size=5000)
        await store.delete(location)
        with pytest.raises(NotFound):
            await store.delete(location)
        with pytest.raises(NotFound):
            await store.get(location)
        with pytest.raises(NotFound):
            await store.get_size(location)
        await self._settled(store, before)

    async def test_discard_partial_of_an_unrecorded_write(
        self, store: Store, threshold: int
    ) -> None:
        """A server killed after the driver finished writing, before the database recorded
        the location: ``discard_partial`` removes the data, and the image can be written
        again (else every new upload of it would be a ``Duplicate``)."""
        self._require(store, Capability.WRITE)
        before = await self._objects(store)
        image_id = _image_id()
        await self._put(store, payload(3 * threshold), size=3 * threshold, image_id=image_id)
        await store.discard_partial(image_id)
        await self._settled(store, before)
        location = await self._put(store, payload(5000), size=5000, image_id=image_id)
        await store.delete(location)
        await store.discard_partial(image_id)  # nothing there: no error
        await self._settled(store, before)

    async def test_missing_object(self, store: Store) -> None:
        image_id = _image_id()
        location = await self._put(store, payload(10), size=10, image_id=image_id)
        missing = location.replace(image_id, _image_id())
        assert missing != location, "the location names the image id it was added as"
        assert store.image_of(location) in (image_id, None), "image_of names another image"
        with pytest.raises(NotFound):
            await store.get(missing)
        with pytest.raises(NotFound):
            await store.get_size(missing)
        if store.capabilities & Capability.DELETE:
            with pytest.raises(NotFound):
                await store.delete(missing)
        await self._remove(store, location)

    # -- failures leave nothing behind ----------------------------------------------------

    async def test_failing_stream_leaves_nothing(self, store: Store, threshold: int) -> None:
        """The pipeline's own errors (size cap, quota, bad format) pass through unchanged."""
        self._require(store, Capability.WRITE)
        before = await self._objects(store)

        async def too_large() -> ByteStream:
            async for chunk in _pieces(payload(2 * threshold + 10), self.piece):
                yield chunk
            raise ImageTooLarge("the size cap was reached")

        with pytest.raises(ImageTooLarge):
            await store.add(_image_id(), too_large(), size=None)
        await self._settled(store, before)

    async def test_cancelled_upload_leaves_nothing(self, store: Store, threshold: int) -> None:
        """A client that goes away cancels the upload; the driver's cleanup still runs."""
        self._require(store, Capability.WRITE)
        before = await self._objects(store)
        halfway = anyio.Event()

        async def stalls() -> ByteStream:
            async for chunk in _pieces(payload(2 * threshold + 10), self.piece):
                yield chunk
            halfway.set()
            await anyio.sleep_forever()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._add_quietly, store, stalls())
            with anyio.fail_after(self.outage_seconds):
                await halfway.wait()
            await anyio.sleep(0.2)  # let parallel part uploads get under way
            tasks.cancel_scope.cancel()
        await self._settled(store, before)

    async def test_backend_stopped_mid_upload(self, store: Store, threshold: int) -> None:
        self._require(store, Capability.WRITE)
        self._require_hook("stop_backend", "start_backend")
        before = await self._objects(store)
        data = payload(4 * threshold)

        async def outage() -> ByteStream:
            async for chunk in _pieces(data[: 2 * threshold], self.piece):
                yield chunk
            await self.stop_backend(store)
            async for chunk in _pieces(data[2 * threshold :], self.piece):
                yield chunk

        try:
            with anyio.fail_after(self.outage_seconds), pytest.raises(StoreUnavailable) as failed:
                await store.add(_image_id(), outage(), size=len(data))
        finally:
            await self.start_backend(store)
        assert failed.value.http_status == 503
        # The store works again; a driver whose cleanup could not reach the backend may
        # finish it now (or in the background, within cleanup_seconds).
        location = await self._put(store, payload(100), size=100)
        await self._remove(store, location)
        await self._settled(store, before)

    async def test_misconfigured_store(self, store: Store) -> None:
        self._require_hook("misconfigured_store")
        bad = await self.misconfigured_store(store)
        try:
            with pytest.raises(StoreMisconfigured) as failed:
                await bad.store.open()
        finally:
            await bad.store.close()
        message = failed.value.message
        assert failed.value.http_status == 503
        assert bad.store.backend_id in message, f"the error names no store: {message!r}"
        for secret in bad.secrets:
            assert secret not in message and secret not in str(failed.value.__cause__ or "")

    async def test_storage_full(self, store: Store, threshold: int) -> None:
        self._require(store, Capability.WRITE)
        self._require_hook("storage_full")
        before = await self._objects(store)
        data = payload(3 * threshold)
        async with self.storage_full(store):
            with pytest.raises(StorageFull):
                await store.add(_image_id(), _pieces(data, self.piece), size=len(data))
        await self._settled(store, before)

    # -- helpers --------------------------------------------------------------------------

    async def _objects(self, store: Store) -> set[str]:
        return set(await self.backend_objects(store))

    async def _settled(self, store: Store, before: set[str]) -> None:
        """The backend holds what it held ``before``, within ``cleanup_seconds``."""
        deadline = time.monotonic() + self.cleanup_seconds
        while True:
            now = await self._objects(store)
            if now == before or time.monotonic() > deadline:
                break
            await anyio.sleep(0.2)
        assert now - before == set(), f"left behind on the backend: {sorted(now - before)}"
        assert before - now == set(), f"removed from the backend: {sorted(before - now)}"

    async def _put(
        self, store: Store, data: bytes, *, size: int, image_id: str | None = None
    ) -> str:
        image_id = image_id or _image_id()
        if not store.capabilities & Capability.WRITE:
            self._require_hook("seed")
            return await self.seed(store, image_id, data)
        written = await store.add(image_id, _pieces(data, self.piece), size=size)
        self._check_written(store, written, len(data))
        return written.location

    def _check_written(self, store: Store, written: WriteResult, size: int) -> None:
        assert written.size == size
        assert urlsplit(written.location).scheme in store.schemes
        for secret in self.secrets:
            assert secret not in written.location, "the location carries a credential"

    async def _read(self, store: Store, location: str) -> bytes:
        result = await store.get(location)
        data = b"".join([chunk async for chunk in result.stream])
        assert result.size == len(data)
        return data

    async def _remove(self, store: Store, location: str) -> None:
        if store.capabilities & Capability.DELETE:
            await store.delete(location)

    async def _add_quietly(self, store: Store, data: ByteStream) -> None:
        with suppress(SpyglassError):
            await store.add(_image_id(), data, size=None)

    def _require(self, store: Store, capability: Capability) -> None:
        if not store.capabilities & capability:
            pytest.skip(f"the {store.driver} store has no {capability.name} capability")

    def _require_hook(self, *names: str) -> None:
        for name in names:
            if getattr(type(self), name) is getattr(StoreContract, name):
                pytest.skip(f"{type(self).__name__} does not provide the {name} hook")


def _image_id() -> str:
    return str(uuid.uuid4())


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    """``data`` in pieces of ``size`` bytes, a first piece of one byte, and none empty."""
    view = memoryview(data)
    if view:
        yield bytes(view[:1])
    for start in range(1, len(view), size):
        yield bytes(view[start : start + size])
        await anyio.lowlevel.checkpoint()
