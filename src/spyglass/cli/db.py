"""``spyglass db ...``: the schema and its rows (the jobs of ``glance-manage db``).

``sync`` (upstream's ``db sync``/``db_sync``) adopts a database made by upstream
Glance or creates a new one, then upgrades it; ``version``, ``check``,
``upgrade [REV]``, ``downgrade REV`` (``glance`` hands an adopted database back
to upstream) and ``purge``. Every failure is one line on stderr, never a
traceback, and never the database password.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from spyglass.cli.options import ConfigDir, ConfigFiles, DataDir
from spyglass.config import load_settings
from spyglass.errors import SpyglassError

if TYPE_CHECKING:
    from spyglass.db.engine import Database, PoolOptions

T = TypeVar("T")

db_app = typer.Typer(help="Manage the image database.", no_args_is_help=True)

CHECK_BEHIND = 3
"""``db check`` exit status when ``db sync`` has work to do (upstream uses 3 for "expand")."""
CHECK_NEWER = 4
"""``db check`` exit status when a newer Spyglass wrote the schema."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"spyglass: error: {message}", err=True)
    return typer.Exit(code)


def _url(config_file: list[Path] | None, config_dir: Path | None, data_dir: Path) -> str:
    from spyglass.api.app import database_url

    try:
        return database_url(load_settings(config_file or (), config_dir, {}), data_dir)
    except SpyglassError as exc:
        raise _fail(exc.message, 2) from None


def run_on(
    url: str, work: Callable[[Database], Awaitable[T]], pool: PoolOptions | None = None
) -> T:
    """``work(database)`` on the database ``url`` names, errors as one line."""
    from spyglass.db.engine import create_database

    if url.startswith("sqlite:///"):
        os.makedirs(Path(url.removeprefix("sqlite:///")).parent or ".", exist_ok=True)

    async def run() -> T:
        database = create_database(url, pool)
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except SpyglassError as exc:
        raise _fail(exc.message, 2 if exc.code == "config_error" else 1) from None
    except OSError as exc:
        raise _fail(f"cannot reach the database: {exc}") from None


def prepare_for_serving(url: str, pool: PoolOptions) -> None:
    """Before ``spyglass api`` serves: reach the database and find its schema current.

    The embedded SQLite database sets itself up. A server database is waited for
    (``max_retries`` attempts, ``retry_interval`` apart), then must be at this
    release's schema: anything else is one line naming the fix, and exit 1.
    """
    from spyglass.db.schema_head import at_head

    async def work(database: Database) -> None:
        if database.dialect != "sqlite":
            await database.wait_until_reachable(pool)
        if await at_head(database):  # the usual case, answered without alembic
            return
        from spyglass.db.migrate import MigrationError, schema_state, sync_schema

        if database.dialect == "sqlite":
            await sync_schema(database)
            return
        state = await schema_state(database)
        if not state.current:
            raise MigrationError(f"the database schema is {state.describe()}")

    run_on(url, work, pool)


@db_app.command("sync")
def db_sync(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Create the schema, or adopt an upstream Glance database, and upgrade it to the newest."""
    from spyglass.db.migrate import schema_state, sync_schema

    async def work(database: Database) -> str:
        await sync_schema(database)
        return (await schema_state(database)).describe()

    state = run_on(_url(config_file, config_dir, data_dir), work)
    typer.echo(f"database schema: {state}")


@db_app.command("version")
def db_version(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Print the schema's revision (and upstream Glance's, for an adopted database)."""
    from spyglass.db.migrate import schema_state

    state = run_on(_url(config_file, config_dir, data_dir), schema_state)
    typer.echo(state.describe())


@db_app.command("check")
def db_check(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Exit 0 if the schema is current, 3 if db sync has work to do, 4 if it is newer."""
    from spyglass.db.migrate import schema_state

    state = run_on(_url(config_file, config_dir, data_dir), schema_state)
    typer.echo(state.describe())
    if not state.known:
        raise typer.Exit(CHECK_NEWER)
    if not state.current:
        raise typer.Exit(CHECK_BEHIND)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="The revision to reach.")] = "head",
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Upgrade the schema to REVISION (the newest by default)."""
    from spyglass.db.migrate import schema_state, upgrade

    async def work(database: Database) -> str:
        await upgrade(database, revision)
        return (await schema_state(database)).describe()

    typer.echo(run_on(_url(config_file, config_dir, data_dir), work))


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str,
        typer.Argument(help="The revision to go back to; 'glance' hands an adopted database back."),
    ],
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Downgrade the schema to REVISION (stop every Spyglass server first)."""
    from spyglass.db.migrate import UPSTREAM_ALIAS, downgrade, schema_state

    async def work(database: Database) -> str:
        await downgrade(database, revision)
        if revision == UPSTREAM_ALIAS:
            return "the schema is upstream Glance's again: Spyglass's tables and version removed"
        return (await schema_state(database)).describe()

    typer.echo(run_on(_url(config_file, config_dir, data_dir), work))


@db_app.command("purge")
def db_purge(
    age_in_days: Annotated[
        int, typer.Option("--age-in-days", min=0, help="Purge rows deleted longer ago than this.")
    ] = 30,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=-1, help="At most this many rows per table; -1: all.")
    ] = 100,
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
) -> None:
    """Remove soft-deleted rows (image rows stay: their ids must never be reused)."""
    from spyglass.db.purge import purge

    async def work(database: Database) -> dict[str, int]:
        report = await purge(database, age_in_days=age_in_days, max_rows=max_rows)
        return report.deleted

    deleted = run_on(_url(config_file, config_dir, data_dir), work)
    for table, count in deleted.items():
        if count:
            typer.echo(f"{table}: {count} row(s) purged")
    typer.echo(f"purged {sum(deleted.values())} row(s) deleted more than {age_in_days} day(s) ago")
