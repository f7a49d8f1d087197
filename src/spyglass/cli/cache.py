"""``spyglass cache``: upstream's glance-cache-manage, -pruner, -cleaner and -prefetcher.

The commands work on the cache of the server whose configuration they read
(``image_cache_dir``, ``image_cache_driver``...), directly on its files and
index, so they run on that server's host, with or without the server running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from spyglass.cli.options import ConfigDir, ConfigFiles, DataDir
from spyglass.config import Settings, load_settings
from spyglass.context import RequestContext
from spyglass.errors import ConfigError, SpyglassError

if TYPE_CHECKING:
    from spyglass.cache.management import CacheManager

T = TypeVar("T")

cache_app = typer.Typer(
    help="Manage this server's local image cache.", no_args_is_help=True, add_completion=False
)


ADMIN = RequestContext(
    request_id="spyglass-cache", roles=frozenset({"admin", "member", "reader"}), is_admin=True
)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"spyglass: error: {message}", err=True)
    return typer.Exit(code)


def _settings(config_file: list[Path] | None, config_dir: Path | None) -> Settings:
    try:
        settings = load_settings(config_file or (), config_dir, {})
    except ConfigError as exc:
        raise _fail(exc.message, 2) from None
    if not settings.image_cache_dir:
        raise _fail("image_cache_dir is not set: this server has no image cache", 2)
    return settings


@contextlib.asynccontextmanager
async def _manager(settings: Settings, data_dir: Path) -> AsyncIterator[CacheManager]:
    from spyglass.api.app import build_services, build_stores, database_url
    from spyglass.api.caching import build_cache
    from spyglass.db.engine import create_database
    from spyglass.registry.repositories import configured_repositories

    database = create_database(database_url(settings, data_dir))
    stores = build_stores(settings, data_dir)
    registry = None
    try:
        repositories, registry = configured_repositories(settings, database)
        services = build_services(settings, database, stores, repositories=repositories)
        manager = build_cache(settings, database, services, clock=time.time)
        assert manager is not None
        await stores.open()
        await manager.cache.open()
        try:
            yield manager
        finally:
            await manager.cache.close()
    finally:
        await stores.close()
        await database.dispose()
        if registry is not None:
            await registry.aclose()


def _run(
    config_file: list[Path] | None,
    config_dir: Path | None,
    data_dir: Path,
    job: Callable[[CacheManager], Awaitable[T]],
) -> T:
    settings = _settings(config_file, config_dir)

    async def run() -> T:
        async with _manager(settings, data_dir) as manager:
            return await job(manager)

    try:
        return asyncio.run(run())
    except SpyglassError as exc:
        raise _fail(exc.message) from None


def _when(epoch: float) -> str:
    if not epoch:
        return "N/A"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@cache_app.command("list")
def list_cached(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """List cached images: id, last access, last change, size, hits."""
    entries = _run(config_file, config_dir, data_dir, lambda m: m.list_cached(ADMIN))
    if not entries:
        typer.echo("No cached images.")
        return
    typer.echo(f"{'ID':<36}  {'Last Accessed (UTC)':<19}  {'Last Modified (UTC)':<19}  "
               f"{'Size':>12}  {'Hits':>6}")  # fmt: skip
    for entry in entries:
        typer.echo(
            f"{entry.image_id:<36}  {_when(entry.last_accessed):<19}  "
            f"{_when(entry.last_modified):<19}  {entry.size:>12}  {entry.hits:>6}"
        )


@cache_app.command("list-queued")
def list_queued(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """List images queued for the prefetcher."""
    queued = _run(config_file, config_dir, data_dir, lambda m: m.list_queued(ADMIN))
    if not queued:
        typer.echo("No queued images.")
    for image_id in queued:
        typer.echo(image_id)


@cache_app.command("queue")
def queue(
    image_id: Annotated[str, typer.Argument(help="The image to cache.")],
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Queue an active image; `spyglass cache prefetch` (or the server's prefetcher) caches it."""
    _run(config_file, config_dir, data_dir, lambda m: m.queue(ADMIN, image_id, fetch_now=False))
    typer.echo(f"queued image {image_id}")


@cache_app.command("delete")
def delete(
    image_id: Annotated[str, typer.Argument(help="The image to remove.")],
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Remove an image from the cache and from the queue."""
    _run(config_file, config_dir, data_dir, lambda m: m.delete(ADMIN, image_id))
    typer.echo(f"deleted image {image_id} from the cache")


@cache_app.command("clear")
def clear(
    target: Annotated[str, typer.Option(help="What to empty: cache, queue or both.")] = "both",
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Remove every cached image, every queued one, or both."""
    count = _run(config_file, config_dir, data_dir, lambda m: m.clear(ADMIN, target))
    typer.echo(f"removed {count} image(s)")


@cache_app.command("prune")
def prune(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Remove least recently used images until the cache fits image_cache_max_size."""
    report = _run(config_file, config_dir, data_dir, lambda m: m.run_prune())
    typer.echo(f"pruned {report.files} file(s), {report.bytes} bytes")


@cache_app.command("clean")
def clean(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Remove invalid files and stalled or abandoned fills; reconcile index and files."""
    report = _run(config_file, config_dir, data_dir, lambda m: m.run_clean())
    typer.echo(
        f"removed {report.incomplete} incomplete and {report.invalid} invalid file(s), "
        f"{report.orphan_files} file(s) without an entry, "
        f"{report.orphan_entries} entr(ies) without a file"
    )


@cache_app.command("prefetch")
def prefetch(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar per image.")] = True,
) -> None:
    """Cache every queued image from its store, with a progress bar."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        disable=not progress,
    )

    async def job(manager: CacheManager) -> tuple[list[str], list[str]]:
        def progress_for(image: object) -> Callable[[int], None]:
            task = bar.add_task(str(getattr(image, "id", "")), total=getattr(image, "size", None))
            return lambda done: bar.update(task, completed=done)

        with bar:
            report = await manager.run_prefetch(progress_for)
        return report.cached, report.failed

    cached, failed = _run(config_file, config_dir, data_dir, job)
    typer.echo(f"prefetched {len(cached)} image(s), {len(failed)} failed")
    for image_id in failed:
        typer.echo(f"not cached: {image_id}")
    if failed:
        raise typer.Exit(1)
