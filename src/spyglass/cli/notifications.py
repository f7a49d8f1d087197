"""``spyglass notifications``: the outbox of notifications waiting for the broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from sqlalchemy.exc import DBAPIError

from spyglass.cli import main as _main
from spyglass.cli.options import ConfigDir, ConfigFiles, DataDir

notifications_app = typer.Typer(
    help="Notifications waiting for delivery.", no_args_is_help=True, add_completion=False
)


@notifications_app.command("status")
def status(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """How many events wait for the broker, how old the oldest is, how often they were tried."""
    from spyglass.api.app import database_url
    from spyglass.db.engine import create_database
    from spyglass.db.outbox import read_backlog
    from spyglass.notify.base import notify_config
    from spyglass.timeutils import utcnow

    settings = _main._settings(config_file, config_dir)
    config = notify_config(settings)

    async def run() -> list[str]:
        database = create_database(database_url(settings, data_dir))
        try:
            backlog = await read_backlog(database)
        finally:
            await database.dispose()
        oldest = backlog.oldest
        age = "-" if oldest is None else f"{(utcnow() - oldest).total_seconds():.0f} s"
        return [
            f"driver: {config.driver}",
            f"{backlog.waiting} waiting ({backlog.claimed} being sent, "
            f"{backlog.retrying} retried after a failure)",
            f"oldest: {age}",
            f"most attempts: {backlog.max_attempts}",
        ]

    try:
        lines = asyncio.run(run())
    except (OSError, DBAPIError) as exc:
        reason = getattr(exc, "orig", None) or exc
        typer.echo(f"spyglass: error: cannot read the outbox: {reason}", err=True)
        raise typer.Exit(1) from None
    for line in lines:
        typer.echo(line)
