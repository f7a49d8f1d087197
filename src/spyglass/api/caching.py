"""Wiring the image cache into the API server (part of the composition root).

The cache exists when ``image_cache_dir`` is set: the ``/v2/cache`` API and the
``after_delete`` eviction work then. Downloads go through it only with a
``caching`` or ``cachemanagement`` flavor (``keystone+caching``...), and the
seed era's ``/v1/cached_images`` routes only with ``cachemanagement``, as
upstream's paste pipelines decide.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import anyio

from spyglass.api.state import Services
from spyglass.cache.cache import ImageCache
from spyglass.cache.index import CacheIndex
from spyglass.cache.layout import CacheLayout
from spyglass.cache.management import CacheManager
from spyglass.cache.sqlite_index import SqliteCacheIndex
from spyglass.config import Settings
from spyglass.db.engine import Database
from spyglass.errors import ConfigError

log = logging.getLogger(__name__)

_CACHE_MODES = ("caching", "cachemanagement")


def cache_mode(settings: Settings) -> str | None:
    """``caching``, ``cachemanagement`` or ``None``, from the paste flavor."""
    flavor = (settings.flavor or "").strip()
    suffix = flavor.split("+", 1)[1] if "+" in flavor else flavor
    suffix = suffix.strip()
    return suffix if suffix in _CACHE_MODES else None


def node_url(settings: Settings) -> str:
    """How this server names itself to cache clients and in the ``centralized_db`` rows."""
    own = settings.option("DEFAULT", "worker_self_reference_url")
    if own:
        return str(own)
    return f"http://{socket.gethostname()}:{settings.bind_port}"


def build_index(settings: Settings, layout: CacheLayout, database: Database) -> CacheIndex:
    driver = settings.option("DEFAULT", "image_cache_driver")
    if driver == "sqlite":
        name = str(settings.option("DEFAULT", "image_cache_sqlite_db"))
        return SqliteCacheIndex(layout.root / name)
    if driver == "centralized_db":
        from spyglass.db.cache import SqlCacheIndex

        if not settings.option("DEFAULT", "worker_self_reference_url"):
            raise ConfigError(
                "image_cache_driver = centralized_db needs worker_self_reference_url: the URL "
                "that names this server's cache entries (as upstream requires)"
            )
        return SqlCacheIndex(database, node_url(settings))
    raise ConfigError(
        f"image_cache_driver: {driver!r} is not supported by Spyglass (use sqlite or "
        "centralized_db)"
    )


def build_cache(
    settings: Settings, database: Database, services: Services, *, clock: Callable[[], float]
) -> CacheManager | None:
    """The cache of this server, hooked into downloads and deletes; ``None`` if off."""
    if not settings.image_cache_dir:
        return None
    index_file = str(settings.option("DEFAULT", "image_cache_sqlite_db"))
    layout = CacheLayout(Path(settings.image_cache_dir), index_file=Path(index_file).name)
    mode = cache_mode(settings)
    cache = ImageCache(
        layout,
        build_index(settings, layout, database),
        node=node_url(settings),
        verify_hits=bool(settings.option("DEFAULT", "image_cache_verify_hits")),
        clock=clock,
    )
    manager = CacheManager(
        cache,
        services.images,
        services.downloads.read_store,
        max_size=settings.image_cache_max_size,
        stall_time=settings.image_cache_stall_time,
        clock=clock,
        legacy_routes=mode == "cachemanagement",
    )
    if mode is not None:
        services.downloads.cache = cache
    services.images.after_delete.append(manager.evict_deleted)
    services.cache = manager
    return manager


@contextlib.asynccontextmanager
async def running(settings: Settings, manager: CacheManager | None) -> AsyncIterator[None]:
    """Open the cache, clean up after any crash, and run the periodic jobs asked for."""
    if manager is None:
        yield
        return
    await manager.cache.open()
    report = await manager.run_clean()
    if report.incomplete or report.orphan_files or report.orphan_entries:
        log.info(
            "image cache: start-up clean removed %d unfinished file(s), %d file(s) without an "
            "entry and %d entr(ies) without a file",
            report.incomplete,
            report.orphan_files,
            report.orphan_entries,
        )
    jobs: list[tuple[str, float, Callable[[], Awaitable[object]]]] = [
        ("prefetch", _interval(settings, "cache_prefetcher_interval"), manager.run_prefetch),
        ("prune", _interval(settings, "cache_pruner_interval"), manager.run_prune),
        ("clean", _interval(settings, "cache_cleaner_interval"), manager.run_clean),
    ]
    try:
        async with anyio.create_task_group() as tasks:
            for name, interval, job in jobs:
                if interval > 0:
                    tasks.start_soon(_every, name, interval, job)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await manager.cache.close()


def _interval(settings: Settings, name: str) -> float:
    return float(cast("float", settings.option("DEFAULT", name) or 0))


async def _every(name: str, interval: float, job: Callable[[], Awaitable[object]]) -> None:
    while True:
        await anyio.sleep(interval)
        try:
            await job()
        except Exception:
            log.exception("image cache: the periodic %s failed", name)


Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[None]]


def with_cache(inner: Lifespan, settings: Settings, manager: CacheManager | None) -> Lifespan:
    """The server's lifespan with the cache running inside it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with inner(app), running(settings, manager):
            yield

    return lifespan
