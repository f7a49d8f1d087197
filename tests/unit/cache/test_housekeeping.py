"""Prune by least recent use; clean leaves the index and the files in agreement."""

from __future__ import annotations

import os
import time

from spyglass.cache import housekeeping
from spyglass.cache.cache import ImageCache
from spyglass.cache.index import CacheEntry
from spyglass.domain.image import Image
from tests.unit.cache.conftest import FakeStore, image_of


async def _cached(cache: ImageCache, n: int, size: int = 1000) -> Image:
    data = os.urandom(size)
    image = image_of(data, f"image-{n}")
    assert await cache.fill(image, FakeStore(data).source())
    return image


async def test_prune_removes_least_recently_used_first(cache: ImageCache) -> None:
    images = [await _cached(cache, n) for n in range(3)]
    await cache.index.hit(images[0].id, time.time() + 10)  # the oldest, but used last
    report = await housekeeping.prune(cache, max_size=2000)
    assert report == housekeeping.PruneReport(1, 1000)
    left = {e.image_id for e in await cache.entries()}
    assert left == {images[0].id, images[2].id}
    assert not cache.layout.path(images[1].id).exists()
    assert await housekeeping.prune(cache, max_size=2000) == housekeeping.PruneReport(0, 0)


async def test_clean_removes_leftovers_and_reconciles(cache: ImageCache) -> None:
    layout = cache.layout
    kept = await _cached(cache, 1)
    gone = await _cached(cache, 2)
    layout.path(gone.id).unlink()  # an entry without a file
    layout.path("orphan").write_bytes(b"x")  # a file without an entry ...
    os.utime(layout.path("orphan"), (1, 1))
    layout.incomplete("crashed").write_bytes(b"half")  # a dead filler's leftover
    (layout.invalid_dir / "bad").write_bytes(b"bad")
    live = layout.start_fill("busy")  # a fill in progress stays
    assert live is not None
    try:
        report = await housekeeping.clean(cache, stall_time=3600, now=time.time() + 120)
    finally:
        os.close(live)
    assert report == housekeeping.CleanReport(
        incomplete=1, invalid=1, orphan_files=1, orphan_entries=1
    )
    assert [p.name for p in layout.incomplete_dir.iterdir()] == ["busy"]
    assert layout.invalid_files() == []
    assert {e.image_id for e in await cache.entries()} == set(layout.complete_ids()) == {kept.id}


async def test_clean_removes_stalled_fills(cache: ImageCache) -> None:
    live = cache.layout.start_fill("slow")
    assert live is not None
    try:
        report = await housekeeping.clean(cache, stall_time=10, now=time.time() + 60)
    finally:
        os.close(live)
    assert report.incomplete == 1


async def test_prefetch_caches_queued_active_images(cache: ImageCache) -> None:
    data = os.urandom(5000)
    image = image_of(data, "queued-1")
    await cache.queue(image.id)
    await cache.queue("no-such-image")

    async def lookup(image_id: str) -> Image | None:
        return image if image_id == image.id else None

    report = await housekeeping.prefetch(cache, lookup, lambda i: FakeStore(data).source())
    assert report.cached == [image.id]
    assert report.failed == ["no-such-image"]
    assert cache.queued() == []
    entry = await cache.index.get(image.id)
    assert isinstance(entry, CacheEntry) and entry.size == 5000
