"""``spyglass gc``: remove image data that no location refers to (``services/gc.py``)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from spyglass.cli.options import ConfigDir, ConfigFiles, DataDir
from spyglass.errors import ConfigError, SpyglassError
from spyglass.services.gc import DEFAULT_GRACE, StoreReport


def gc(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the orphans; remove nothing.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option(help="Leave data younger than this many seconds (uploads in flight)."),
    ] = DEFAULT_GRACE,
    every: Annotated[
        Optional[float],  # noqa: UP045 - typer needs Optional here
        typer.Option(help="Run again every SECONDS until stopped (instead of once)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per store.")] = True,
) -> None:
    """Find image data in every store that no image's location refers to, and remove it,
    and abort uploads a store holds unfinished (S3 multipart uploads of a killed server);
    both only older than --grace, so in-flight uploads are safe."""
    from spyglass.config import load_settings

    try:
        settings = load_settings(config_file or (), config_dir, {})
    except ConfigError as exc:
        typer.echo(f"spyglass: error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    if grace < 0 or (every is not None and every <= 0):
        typer.echo("spyglass: error: --grace and --every take positive seconds", err=True)
        raise typer.Exit(2)
    while True:
        try:
            reports = asyncio.run(_collect(settings, data_dir, dry_run, grace, progress))
        except SpyglassError as exc:
            typer.echo(f"spyglass: error: {exc.message}", err=True)
            if every is None:
                raise typer.Exit(1) from None
            reports = []
        failed = _summarize(reports, dry_run)
        if every is None:
            raise typer.Exit(1 if failed else 0)
        time.sleep(every)


async def _collect(
    settings: object, data_dir: Path, dry_run: bool, grace: float, progress: bool
) -> list[StoreReport]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from spyglass.api.app import build_stores, database_url
    from spyglass.config import Settings
    from spyglass.db.engine import create_database
    from spyglass.db.references import SqlReferences
    from spyglass.services.gc import OrphanCollector
    from spyglass.stores.base import StoredObject
    from spyglass.timeutils import utcnow

    assert isinstance(settings, Settings)
    database = create_database(database_url(settings, data_dir))
    stores = build_stores(settings, data_dir)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[bytes]}"),
        disable=not progress,
    )
    tasks: dict[str, tuple[TaskID, list[int]]] = {}

    def step(backend_id: str, stored: StoredObject) -> None:
        if backend_id not in tasks:
            tasks[backend_id] = (bar.add_task(f"store {backend_id}", total=None, bytes=""), [0])
        task, seen = tasks[backend_id]
        seen[0] += stored.size
        bar.update(task, advance=1, bytes=_human(seen[0]))

    try:
        await stores.open()
        collector = OrphanCollector(SqlReferences(database), stores, grace=grace, clock=utcnow)
        with bar:
            return await collector.collect(dry_run=dry_run, progress=step)
    finally:
        await stores.close()
        await database.dispose()


def _summarize(reports: list[StoreReport], dry_run: bool) -> bool:
    """Print one line per store and per orphan; whether any removal failed."""
    failed = False
    for report in reports:
        if report.skipped:
            typer.echo(f"store {report.backend_id}: skipped ({report.skipped})")
            continue
        for orphan in report.orphans:
            typer.echo(f"  orphan {orphan.location} ({_human(orphan.size)})")
        done = (
            f"{len(report.orphans)} orphan(s) ({_human(report.orphan_bytes)}) would be removed"
            if dry_run
            else f"{report.removed} orphan(s) removed ({_human(report.removed_bytes)})"
        )
        for write in report.unfinished:
            when = write.modified.isoformat(timespec="seconds")
            typer.echo(f"  unfinished upload {write.handle} of {write.image_id} (last part {when})")
        if report.unfinished:
            count = len(report.unfinished)
            done += (
                f", {count} unfinished upload(s) would be aborted"
                if dry_run
                else f", {report.aborted} unfinished upload(s) aborted"
            )
        typer.echo(
            f"store {report.backend_id}: {report.scanned} object(s) scanned, {done}, "
            f"{report.young} too young or being written, {len(report.failed)} failed"
        )
        failed = failed or bool(report.failed)
    return failed


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover
