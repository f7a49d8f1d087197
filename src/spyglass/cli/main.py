"""The ``spyglass`` command: servers and management."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from spyglass import __version__
from spyglass.cli import metadefs as metadef_commands
from spyglass.cli.cache import cache_app
from spyglass.cli.db import db_app
from spyglass.cli.gc import gc
from spyglass.cli.notifications import notifications_app
from spyglass.cli.options import ConfigDir, ConfigFiles, DataDir
from spyglass.cli.registry import registry, registry_url
from spyglass.cli.store import store_app
from spyglass.config import Settings, load_settings
from spyglass.errors import ConfigError, SpyglassError

log = logging.getLogger("spyglass")

app = typer.Typer(
    help="Spyglass: an image service that speaks OpenStack Glance's APIs.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(db_app, name="db")
metadef_commands.register(db_app)
config_app = typer.Typer(help="Inspect configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(notifications_app, name="notifications")
app.add_typer(cache_app, name="cache")
app.add_typer(store_app, name="store")
app.command()(registry)
app.command()(gc)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"spyglass {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Spyglass: an image service that speaks OpenStack Glance's APIs."""


def _settings(
    config_file: list[Path] | None, config_dir: Path | None, **overrides: object
) -> Settings:
    try:
        return load_settings(
            config_file or (), config_dir, {k: v for k, v in overrides.items() if v is not None}
        )
    except ConfigError as exc:
        typer.echo(f"spyglass: error: {exc.message}", err=True)
        raise typer.Exit(2) from None


@app.command()
def api(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
    bind_host: Annotated[Optional[str], typer.Option(help="Address to listen on.")] = None,  # noqa: UP045
    bind_port: Annotated[Optional[int], typer.Option(help="Port to listen on.")] = None,  # noqa: UP045
    workers: Annotated[Optional[int], typer.Option(help="Worker processes.")] = None,  # noqa: UP045
) -> None:
    """Run the Images API server (port 9292 by default)."""
    import uvicorn

    from spyglass.api.basics import database_url
    from spyglass.api.http_protocol import protocol_for
    from spyglass.cli.workers import serve_workers
    from spyglass.logs import configure_logging

    settings = _settings(
        config_file, config_dir, bind_host=bind_host, bind_port=bind_port, workers=workers
    )
    try:
        configure_logging(settings)
        url = database_url(settings, data_dir)
        registry = registry_url(settings)
        for line in _startup_summary(settings, data_dir, registry or url):
            log.info("%s", line)
    except ConfigError as exc:
        typer.echo(f"spyglass: error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    # through a registry, the registry reaches the database (the cache index may use it here)
    local = registry is None or settings.option("DEFAULT", "image_cache_driver") == "centralized_db"
    if local:
        from spyglass.cli.db import prepare_for_serving
        from spyglass.db.engine import PoolOptions

        prepare_for_serving(url, PoolOptions.from_settings(settings))
    options: dict[str, Any] = {
        "log_level": None,  # spyglass.logs decides every logger's level
        "log_config": None,
        "access_log": False,  # spyglass.api.access_log writes one line per request
        "http": protocol_for(settings),  # httptools, with bounded request heads
        **_proxy_headers(settings),
        "loop": "uvloop",
        # SIGTERM: stop accepting, let transfers in flight finish up to this limit, then exit
        "timeout_graceful_shutdown": _drain_limit(settings),
    }
    try:
        if settings.workers > 1:
            code = serve_workers(
                settings.workers,
                settings.bind_host,
                settings.bind_port,
                settings.backlog,
                options,
                functools.partial(_app_factory, settings, data_dir),
            )
            raise typer.Exit(code)
        from spyglass.api.app import build_app

        uvicorn.run(
            build_app(settings, data_dir=data_dir),
            host=settings.bind_host,
            port=settings.bind_port,
            backlog=settings.backlog,
            **options,
        )
    except ConfigError as exc:
        typer.echo(f"spyglass: error: {exc.message}", err=True)
        raise typer.Exit(2) from None


def _proxy_headers(settings: Settings) -> dict[str, Any]:
    """uvicorn's handling of ``X-Forwarded-For``/``-Proto``, as Glance's
    ``[oslo_middleware] enable_proxy_headers_parsing`` asks: off by default, for any peer
    when on (oslo's middleware does not look at who sent them either).

    uvicorn's own default trusts them from 127.0.0.1, so behind a proxy on the same host
    that passes them through, any client could choose the scheme of the URLs in answers
    and the address the access lines and the health check's ``allowed_source_ranges``
    see."""
    if settings.option("oslo_middleware", "enable_proxy_headers_parsing"):
        return {"proxy_headers": True, "forwarded_allow_ips": "*"}
    return {"proxy_headers": False}


def _app_factory(settings: Settings, data_dir: Path) -> Callable[[], Any]:
    """Import the app's code (in the parent, before the workers are forked); what builds
    a worker's app from the settings the parent loaded."""
    from spyglass.api.app import build_app

    return functools.partial(build_app, settings, data_dir=data_dir)


def _drain_limit(settings: Settings) -> int | None:
    """``graceful_shutdown_timeout`` as uvicorn takes it (``None``: no limit)."""
    seconds = settings.option("DEFAULT", "graceful_shutdown_timeout")
    return int(seconds) if isinstance(seconds, int) and seconds > 0 else None


def _startup_summary(settings: Settings, data_dir: Path, url: str) -> list[str]:
    """What the operator needs to know first: version, files, database, stores, identity."""
    from spyglass.api.basics import auth_mode, build_stores
    from spyglass.logs import startup_lines

    stores = build_stores(settings, data_dir)
    described = []
    for backend_id, store in stores.stores.items():
        datadir = getattr(store, "datadir", None)
        text = backend_id + (" (default)" if backend_id == stores.default_id else "")
        described.append(text + (f" at {datadir}" if datadir else ""))
    mode = auth_mode(settings)
    keystone = settings.option("keystone_authtoken", "auth_url") or "an unset auth_url"
    identity = {
        "noauth": "none (every caller is an administrator)",
        "trusted-auth": "trusted-auth (identity from an authenticating proxy's headers)",
        "keystone": f"keystone (tokens validated at {keystone})",
    }[mode]
    host = f"[{settings.bind_host}]" if ":" in settings.bind_host else settings.bind_host
    address = f"http://{host}:{settings.bind_port}"
    if settings.workers > 1:
        address += f" with {settings.workers} workers"
    return startup_lines(
        version=__version__,
        sources=settings.sources,
        database=url,
        stores=described,
        identity=identity,
        address=address,
    )


@app.command()
def scrub(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
    restore: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Bring this pending_delete image back to active instead."),
    ] = None,
) -> None:
    """Finish delayed deletes whose scrub_time has passed (glance-scrubber), and put images
    whose upload died with its server back to queued."""
    from spyglass.api.app import build_services, build_stores, database_url
    from spyglass.db.engine import create_database
    from spyglass.registry.repositories import configured_repositories
    from spyglass.services.scrubber import Scrubber
    from spyglass.timeutils import utcnow

    settings = _settings(config_file, config_dir)

    async def run() -> str:
        database = create_database(database_url(settings, data_dir))
        stores = build_stores(settings, data_dir)
        repositories, registry = configured_repositories(settings, database)
        scrubber = Scrubber(repositories.deletions, stores, scrub_time=settings.scrub_time)
        try:
            await stores.open()
            if restore:
                await scrubber.restore(restore)
                return f"image {restore} restored"
            report = await scrubber.scrub(utcnow())
            recovery = build_services(
                settings, database, stores, repositories=repositories
            ).recovery
            recovered = await recovery.sweep() if recovery else []
            return (
                f"scrubbed {report.scrubbed} image(s), {report.failed} failed; "
                f"{len(recovered)} interrupted upload(s) back to queued"
            )
        finally:
            await stores.close()
            await database.dispose()
            if registry is not None:
                await registry.aclose()

    try:
        typer.echo(asyncio.run(run()))
    except SpyglassError as exc:
        typer.echo(f"spyglass: error: {exc.message}", err=True)
        raise typer.Exit(1) from None


@config_app.command("check")
def config_check(config_file: ConfigFiles = None, config_dir: ConfigDir = None) -> None:
    """Load the files as the server would and print the settings in effect."""
    settings = _settings(config_file, config_dir)
    for name, value in settings.summary().items():
        typer.echo(f"{name} = {value}")


@config_app.command("sample")
def config_sample(
    service: Annotated[
        str, typer.Option(help="Which file: api (glance-api.conf) or registry.")
    ] = "api",
    output_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Write the sample here instead of printing it."),
    ] = None,
) -> None:
    """Print a sample glance-<service>.conf: every option, its default and a one-line help."""
    from spyglass.config.sample import SERVICES, render

    if service not in SERVICES:
        typer.echo(
            f"spyglass: error: unknown service {service!r} (known: {', '.join(SERVICES)})",
            err=True,
        )
        raise typer.Exit(2)
    text = render(service)
    if output_file is None:
        typer.echo(text, nl=False)
        return
    try:
        output_file.parent.mkdir(parents=True, exist_ok=True)
        output_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"spyglass: error: cannot write {output_file}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
