"""Managing one server's cache: the use cases behind ``/v2/cache`` and ``spyglass cache``.

Every call is authorized by its policy rule (``cache_list``, ``cache_image``,
``cache_delete``, ``cache_clean``, ``cache_prune``, ``list_cached_nodes``, all
``rule:manage_image_cache`` = admin by default). It acts on the cache of the
server it runs in, named by ``node``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from spyglass.cache import housekeeping
from spyglass.cache.cache import ImageCache, Progress, Source, cacheable
from spyglass.cache.index import CacheEntry
from spyglass.cache.layout import valid_id
from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus
from spyglass.errors import BadRequest, Conflict, Forbidden, ImageNotFound, NotFound
from spyglass.services.images import ImageService
from spyglass.stores.base import ByteRange, ReadResult

log = logging.getLogger(__name__)

CLEAR_TARGETS = ("", "both", "cache", "queue")


class CacheManager:
    def __init__(
        self,
        cache: ImageCache,
        images: ImageService,
        read_store: Callable[[Image, ByteRange | None], Any],
        *,
        max_size: int,
        stall_time: float,
        clock: Callable[[], float],
        legacy_routes: bool = False,
    ) -> None:
        self.cache = cache
        self.legacy_routes = legacy_routes
        """The seed era's ``/v1/cached_images`` routes (a ``cachemanagement`` flavor)."""
        self.images = images
        self._read_store = read_store
        self.max_size = max_size
        self.stall_time = stall_time
        self.clock = clock
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def node(self) -> str:
        return self.cache.node

    def authorize(self, ctx: RequestContext, action: str) -> None:
        target = {"project_id": ctx.project_id}
        if not self.images.access.policy.allowed(action, ctx, target):
            raise Forbidden(f"You are not authorized to complete {action} action.")

    async def overview(self, ctx: RequestContext) -> tuple[list[CacheEntry], list[str]]:
        self.authorize(ctx, "cache_list")
        return await self.cache.entries(), await self.cache.queued_ids()

    async def list_cached(self, ctx: RequestContext) -> list[CacheEntry]:
        self.authorize(ctx, "cache_list")
        return await self.cache.entries()

    async def list_queued(self, ctx: RequestContext) -> list[str]:
        self.authorize(ctx, "cache_list")
        return await self.cache.queued_ids()

    async def queue(self, ctx: RequestContext, image_id: str, *, fetch_now: bool) -> None:
        """Queue an active image for caching; ``fetch_now`` starts caching it at once."""
        self.authorize(ctx, "cache_image")
        image = await self.images.get(ctx, image_id)
        if image.status is not ImageStatus.ACTIVE:
            raise BadRequest(f"Image {image_id} is not active; only active images are cached.")
        if not cacheable(image):
            raise BadRequest(f"Image {image_id} has no checksum to verify a cached copy against.")
        await self.cache.queue(image_id)
        if fetch_now:
            task = asyncio.ensure_future(self._fetch_one(image))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _fetch_one(self, image: Image) -> None:
        try:
            if await self.cache.fill(image, self.source(image)):
                await self.cache.dequeue(image.id)
        except Exception:
            log.exception("image cache: caching %s failed; it stays queued", image.id)

    async def delete(self, ctx: RequestContext, image_id: str) -> None:
        """Remove an image from the cache and the queue; 404 if in neither and no image."""
        self.authorize(ctx, "cache_delete")
        if not await self.cache.evict(image_id):
            await self.images.get(ctx, image_id)  # 404 for an id that is no image

    async def delete_queued(self, ctx: RequestContext, image_id: str) -> None:
        self.authorize(ctx, "cache_delete")
        if not valid_id(image_id) or not await self.cache.dequeue(image_id):
            raise NotFound(f"Image {image_id} is not queued.")

    async def delete_cached(self, ctx: RequestContext, image_id: str) -> None:
        self.authorize(ctx, "cache_delete")
        if not valid_id(image_id) or not await self.cache.uncache(image_id):
            raise NotFound(f"Image {image_id} is not cached.")

    async def clear(self, ctx: RequestContext, target: str) -> int:
        """Empty the cache, the queue, or both (``""``/``both``); returns how many went."""
        self.authorize(ctx, "cache_delete")
        if target not in CLEAR_TARGETS:
            raise BadRequest(
                f"x-image-cache-clear-target must be 'cache', 'queue' or empty, not {target!r}."
            )
        count = 0
        if target in ("", "both", "cache"):
            count += await self.cache.clear()
        if target in ("", "both", "queue"):
            count += await self.cache.clear_queue()
        return count

    async def clean(self, ctx: RequestContext) -> housekeeping.CleanReport:
        self.authorize(ctx, "cache_clean")
        return await self.run_clean()

    async def prune(self, ctx: RequestContext) -> housekeeping.PruneReport:
        self.authorize(ctx, "cache_prune")
        return await self.run_prune()

    async def nodes(self, ctx: RequestContext, image_id: str) -> list[str]:
        self.authorize(ctx, "list_cached_nodes")
        nodes = await self.cache.index.nodes(image_id)
        if nodes is None:
            raise Conflict("Listing the nodes of a cached image needs image_cache_driver = "
                           "centralized_db.")  # fmt: skip
        return nodes

    # -- the jobs, without a caller (CLI, timers) -----------------------------------------

    async def run_clean(self) -> housekeeping.CleanReport:
        report = await housekeeping.clean(self.cache, self.stall_time, now=self.clock())
        gone = 0
        for entry in await self.cache.entries():
            if await self._lookup(entry.image_id) is None:
                await self.cache.evict(entry.image_id)
                gone += 1
        return dataclasses.replace(report, deleted_images=gone)

    async def run_prune(self) -> housekeeping.PruneReport:
        return await housekeeping.prune(self.cache, self.max_size)

    async def run_prefetch(
        self, progress_for: Callable[[Image], Progress | None] | None = None
    ) -> housekeeping.PrefetchReport:
        return await housekeeping.prefetch(self.cache, self._lookup, self.source, progress_for)

    async def _lookup(self, image_id: str) -> Image | None:
        """The image, unless it is gone (deleted, or never existed)."""
        try:
            image = await self.images.repo.get(image_id)
        except ImageNotFound:
            return None
        gone = (ImageStatus.DELETED, ImageStatus.PENDING_DELETE, ImageStatus.KILLED)
        return None if image.status in gone else image

    def source(self, image: Image) -> Source:
        async def open_store(part: ByteRange | None) -> ReadResult:
            result: ReadResult = await self._read_store(image, part)
            return result

        return open_store

    async def evict_deleted(self, image_id: str) -> object:
        """The ``after_delete`` hook: a deleted image leaves this server's cache."""
        return await self.cache.evict(image_id)
