"""The cache's housekeeping jobs: prune, clean and prefetch (upstream's three tools).

Each is a function of an :class:`ImageCache`; ``spyglass cache`` runs them on
demand and the API server, when asked to, on a timer.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio.to_thread

from spyglass.cache.cache import ImageCache, Progress, Source
from spyglass.domain.image import Image

log = logging.getLogger(__name__)

ORPHAN_GRACE = 60.0
"""Seconds a complete file may go without an entry: a fill renames, then indexes."""


@dataclass(frozen=True, slots=True)
class PruneReport:
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class CleanReport:
    incomplete: int
    invalid: int
    orphan_files: int
    orphan_entries: int
    deleted_images: int = 0
    """Entries of images that no longer exist (deleted through another server)."""


async def prune(cache: ImageCache, max_size: int) -> PruneReport:
    """Remove least recently used images until the cache holds at most ``max_size`` bytes."""
    entries = await cache.entries()
    total = sum(entry.size for entry in entries)
    files = freed = 0
    for entry in entries:  # least recently used first
        if total <= max_size:
            break
        await cache.index.remove(entry.image_id)
        await anyio.to_thread.run_sync(cache.layout.remove, entry.image_id)
        total -= entry.size
        freed += entry.size
        files += 1
        log.info("image cache: pruned %s (%d bytes)", entry.image_id, entry.size)
    return PruneReport(files, freed)


async def clean(cache: ImageCache, stall_time: float, *, now: float) -> CleanReport:
    """Remove abandoned and stalled fills and invalid files, then make the index and
    the files agree: an entry without a file, or a file without an entry, goes."""
    layout = cache.layout
    incomplete = invalid = 0
    for found in await anyio.to_thread.run_sync(layout.incomplete_files, now):
        if found.locked and found.age < stall_time:
            continue  # being filled right now
        await anyio.to_thread.run_sync(_unlink, found.path)
        incomplete += 1
    for path in await anyio.to_thread.run_sync(layout.invalid_files):
        await anyio.to_thread.run_sync(_unlink, path)
        invalid += 1
    entries = {entry.image_id for entry in await cache.entries()}
    files = set(await anyio.to_thread.run_sync(layout.complete_ids))
    orphan_entries = 0
    for image_id in sorted(entries - files):
        await cache.index.remove(image_id)
        orphan_entries += 1
    orphan_files = 0
    for image_id in sorted(files - entries):
        path = layout.path(image_id)
        try:
            changed = (await anyio.to_thread.run_sync(os.stat, path)).st_ctime
        except FileNotFoundError:
            continue
        if now - changed >= ORPHAN_GRACE and await cache.index.get(image_id) is None:
            await anyio.to_thread.run_sync(_unlink, path)
            orphan_files += 1
    return CleanReport(incomplete, invalid, orphan_files, orphan_entries)


def _unlink(path: os.PathLike[str]) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@dataclass(frozen=True, slots=True)
class PrefetchReport:
    cached: list[str]
    failed: list[str]


async def prefetch(
    cache: ImageCache,
    lookup: Callable[[str], Awaitable[Image | None]],
    source_for: Callable[[Image], Source],
    progress_for: Callable[[Image], Progress | None] | None = None,
) -> PrefetchReport:
    """Cache every queued image; an image that is gone or not active leaves the queue."""
    cached: list[str] = []
    failed: list[str] = []
    for image_id in await cache.queued_ids():
        image = await lookup(image_id)
        if image is None or not _active(image):
            log.warning("image cache: %s is not an active image; dequeued", image_id)
            await anyio.to_thread.run_sync(cache.layout.dequeue, image_id)
            failed.append(image_id)
            continue
        progress = progress_for(image) if progress_for is not None else None
        try:
            ok = await cache.fill(image, source_for(image), progress)
        except Exception:
            log.exception("image cache: prefetching %s failed", image_id)
            ok = False
        if ok:
            await anyio.to_thread.run_sync(cache.layout.dequeue, image_id)
            cached.append(image_id)
        else:
            failed.append(image_id)
    return PrefetchReport(cached, failed)


def _active(image: Image) -> bool:
    from spyglass.cache.cache import cacheable

    return cacheable(image)
