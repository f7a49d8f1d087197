"""ImageCache: fills verified before they count, hits checked, one store read per miss."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from spyglass.cache.cache import CacheCorrupted, ImageCache
from spyglass.cache.index import CacheEntry
from spyglass.domain.image import ImageStatus
from spyglass.stores.base import ByteRange
from tests.unit.cache.conftest import FakeStore, drain, image_of, settle

DATA = os.urandom(3 * 1024 * 1024 + 5)


def _change_one_byte(cache: ImageCache, image_id: str) -> Path:
    path = cache.layout.path(image_id)
    with path.open("r+b") as f:
        f.seek(5)
        f.write(b"X")
    return path


async def test_miss_fills_then_hit_reads_the_file(cache: ImageCache) -> None:
    image = image_of(DATA)
    store = FakeStore(DATA)
    assert await drain(await cache.read(image, None, store.source())) == DATA
    await settle(cache)
    assert cache.layout.path(image.id).read_bytes() == DATA
    entry = await cache.index.get(image.id)
    assert entry is not None and entry.size == len(DATA) and entry.checksum == image.checksum

    assert await drain(await cache.read(image, None, store.source())) == DATA
    part = await cache.read(image, ByteRange(10, 99), store.source())
    assert await drain(part) == DATA[10:100]
    assert store.opened == 1
    await asyncio.sleep(0.05)
    assert (await cache.index.get(image.id)).hits == 2  # type: ignore[union-attr]


async def test_concurrent_misses_read_the_store_once(cache: ImageCache) -> None:
    image = image_of(DATA)
    store = FakeStore(DATA, gate=asyncio.Event())
    results = [await cache.read(image, None, store.source()) for _ in range(5)]
    readers = [asyncio.ensure_future(drain(r)) for r in results]
    await asyncio.sleep(0.05)
    store.gate.set()  # type: ignore[union-attr]
    assert await asyncio.gather(*readers) == [DATA] * 5
    await settle(cache)
    assert store.opened == 1
    assert await cache.is_cached(image.id)


async def test_wrong_data_goes_to_invalid_and_is_never_a_hit(cache: ImageCache) -> None:
    image = image_of(DATA)
    bad = bytearray(DATA)
    bad[1000] ^= 0xFF
    assert await drain(await cache.read(image, None, FakeStore(bytes(bad)).source())) == bad
    await settle(cache)
    assert not await cache.is_cached(image.id)
    assert not cache.layout.path(image.id).exists()
    assert (cache.layout.invalid_dir / image.id).exists()
    # The next download fetches again, and the good bytes are cached.
    good = FakeStore(DATA)
    assert await drain(await cache.read(image, None, good.source())) == DATA
    await settle(cache)
    assert await cache.is_cached(image.id)


async def test_short_data_is_not_cached(cache: ImageCache) -> None:
    image = image_of(DATA)
    assert await drain(await cache.read(image, None, FakeStore(DATA[:-1]).source())) == DATA[:-1]
    await settle(cache)
    assert not await cache.is_cached(image.id)
    assert not cache.layout.path(image.id).exists()


async def test_a_slow_cache_disk_never_slows_the_first_client(cache: ImageCache) -> None:
    """The writer lets go of the client's stream and reads the rest from the store."""
    image = image_of(DATA)
    store = FakeStore(DATA, chunk=64 * 1024)
    result = await cache.read(image, None, store.source())
    assert result is not None
    chunks = [chunk async for chunk in result.stream]  # faster than any thread hop
    assert b"".join(chunks) == DATA
    await settle(cache)
    assert await cache.is_cached(image.id)
    assert cache.layout.path(image.id).read_bytes() == DATA
    assert store.opened == 2


async def test_every_client_leaving_abandons_the_fill(cache: ImageCache) -> None:
    image = image_of(DATA)
    store = FakeStore(DATA, chunk=64 * 1024, gate=asyncio.Event())
    result = await cache.read(image, None, store.source())
    assert result is not None
    store.gate.set()  # type: ignore[union-attr]
    stream = result.stream
    await stream.__anext__()
    store.gate.clear()  # type: ignore[union-attr]
    await stream.aclose()  # type: ignore[attr-defined]
    await settle(cache)
    assert store.sent < len(DATA)
    assert not await cache.is_cached(image.id)
    assert os.listdir(cache.layout.incomplete_dir) == []
    assert not cache.layout.path(image.id).exists()


async def test_prefetch_fill_finishes_without_readers(cache: ImageCache) -> None:
    image = image_of(DATA)
    seen: list[int] = []
    assert await cache.fill(image, FakeStore(DATA).source(), seen.append)
    assert seen[-1] == len(DATA)
    assert await cache.is_cached(image.id)


async def test_a_changed_file_is_invalidated_before_serving(cache: ImageCache) -> None:
    image = image_of(DATA)
    await cache.fill(image, FakeStore(DATA).source())
    await asyncio.sleep(0.01)
    path = _change_one_byte(cache, image.id)
    store = FakeStore(DATA)
    assert await drain(await cache.read(image, None, store.source())) == DATA
    assert store.opened == 1  # fetched again
    await settle(cache)
    assert path.read_bytes() == DATA


async def test_a_changed_file_is_fetched_again_while_its_fill_is_still_finishing(
    cache: ImageCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fill's entry is in the index (another worker may already serve hits from it)
    before the fill lets go of its file: a reader that finds that file changed must not
    follow the fill, whose file it is."""
    image = image_of(DATA)
    indexed, release = asyncio.Event(), asyncio.Event()
    add = cache.index.add

    async def add_then_hold(entry: CacheEntry) -> None:
        await add(entry)
        indexed.set()
        await release.wait()

    monkeypatch.setattr(cache.index, "add", add_then_hold)
    filling = asyncio.ensure_future(cache.fill(image, FakeStore(DATA).source()))
    await asyncio.wait_for(indexed.wait(), 10)
    monkeypatch.setattr(cache.index, "add", add)
    await asyncio.sleep(0.01)
    path = _change_one_byte(cache, image.id)
    store = FakeStore(DATA)
    assert await drain(await cache.read(image, None, store.source())) == DATA
    assert store.opened == 1
    release.set()
    await filling
    await settle(cache)
    assert path.read_bytes() == DATA and await cache.is_cached(image.id)


async def test_verified_hits_abort_before_the_last_byte(cache: ImageCache) -> None:
    """Corruption the file's ctime does not reveal (bit rot) is caught by ``verify_hits``."""
    image = image_of(DATA)
    await cache.fill(image, FakeStore(DATA).source())
    path = cache.layout.path(image.id)
    with path.open("r+b") as f:
        f.seek(5)
        f.write(b"X")
    # Pretend the change happened without the filesystem noticing.
    entry = await cache.index.get(image.id)
    assert entry is not None
    await cache.index.add(
        CacheEntry(image.id, entry.size, entry.checksum, last_modified=time.time() + 3600)
    )
    cache.verify_hits = True
    received = bytearray()

    async def consume() -> None:
        result = await cache.read(image, None, FakeStore(DATA).source())
        assert result is not None
        async for chunk in result.stream:
            received.extend(chunk)

    with pytest.raises(CacheCorrupted):
        await consume()
    assert len(received) < len(DATA)
    assert not await cache.is_cached(image.id)
    assert (cache.layout.invalid_dir / image.id).exists()


async def test_only_active_images_with_checksums_are_cached(cache: ImageCache) -> None:
    image = image_of(DATA)
    image.status = ImageStatus.DEACTIVATED
    assert await cache.read(image, None, FakeStore(DATA).source()) is None
    image.status = ImageStatus.ACTIVE
    image.checksum = None
    assert await cache.read(image, None, FakeStore(DATA).source()) is None


async def test_ranges_of_uncached_images_go_to_the_store(cache: ImageCache) -> None:
    image = image_of(DATA)
    assert await cache.read(image, ByteRange(0, 9), FakeStore(DATA).source()) is None


async def test_evict_removes_file_entry_and_queue_marker(cache: ImageCache) -> None:
    image = image_of(DATA)
    await cache.fill(image, FakeStore(DATA).source())
    await cache.queue(image.id)
    assert await cache.evict(image.id)
    assert not cache.layout.path(image.id).exists()
    assert not await cache.is_cached(image.id)
    assert cache.queued() == []
    assert not await cache.evict(image.id)
