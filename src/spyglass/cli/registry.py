"""``spyglass registry``: the metadata service API servers reach with ``data_api =
glance.db.registry.api`` (upstream's glance-registry, port 9191)."""

from __future__ import annotations

import functools
import logging
import ssl
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from spyglass import __version__
from spyglass.cli.options import ConfigDir, ConfigFiles, DataDir
from spyglass.config import Settings, load_settings
from spyglass.errors import ConfigError

log = logging.getLogger("spyglass")

REGISTRY_PORT = 9191


def _fail(message: str) -> typer.Exit:
    typer.echo(f"spyglass: error: {message}", err=True)
    return typer.Exit(2)


def registry_url(settings: Settings) -> str | None:
    """``registry at <url>`` when ``data_api`` sends repository calls to a registry."""
    from spyglass.registry.connection import RegistryAddress
    from spyglass.registry.repositories import uses_registry

    if not uses_registry(settings):
        return None
    return f"registry at {RegistryAddress.from_settings(settings).url}"


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS arguments from ``cert_file``/``key_file``/``ca_file`` (none: plain HTTP)."""
    cert, key, ca = (settings.option("DEFAULT", n) for n in ("cert_file", "key_file", "ca_file"))
    if not cert:
        if key or ca:
            raise ConfigError("key_file and ca_file need cert_file (the registry's certificate)")
        return {}
    for name, path in (("cert_file", cert), ("key_file", key), ("ca_file", ca)):
        if path and not Path(str(path)).is_file():
            raise ConfigError(f"{name}: {path} is not a readable file")
    options: dict[str, Any] = {"ssl_certfile": str(cert), "ssl_keyfile": str(key or cert)}
    if ca:
        options.update(ssl_ca_certs=str(ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def registry(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
    bind_host: Annotated[Optional[str], typer.Option(help="Address to listen on.")] = None,  # noqa: UP045
    bind_port: Annotated[Optional[int], typer.Option(help="Port to listen on.")] = None,  # noqa: UP045
    workers: Annotated[Optional[int], typer.Option(help="Worker processes.")] = None,  # noqa: UP045
) -> None:
    """Run the registry server (port 9191 by default): image metadata for API servers.

    ``workers`` (glance-registry.conf's option, or ``--workers``) forks that many
    processes, as the API server does: every API server's metadata goes through the
    registry, so one process on one core is what a fleet's requests queue behind."""
    import uvicorn

    from spyglass.api.app import database_url
    from spyglass.api.http_protocol import protocol_for
    from spyglass.cli.db import prepare_for_serving
    from spyglass.cli.workers import serve_workers
    from spyglass.db.engine import PoolOptions
    from spyglass.logs import configure_logging, mask_url
    from spyglass.registry.server import build_registry_app
    from spyglass.registry.trust import Trust

    try:
        overrides = {"bind_host": bind_host, "bind_port": bind_port, "workers": workers}
        settings = load_settings(
            config_file or (), config_dir, {k: v for k, v in overrides.items() if v}
        )
        port = settings.bind_port if settings.origin("DEFAULT", "bind_port") else REGISTRY_PORT
        configure_logging(settings)
        tls = tls_options(settings)
        trust = Trust.from_settings(settings)
        url = database_url(settings, data_dir)
        # built here with workers too: a configuration error is then one line and exit 2
        # here, not a crash in every worker (each builds its own app after the fork)
        app = build_registry_app(settings, data_dir=data_dir)
    except ConfigError as exc:
        raise _fail(exc.message) from None
    scheme = "https" if tls else "http"
    for line in (
        f"spyglass {__version__} registry starting",
        "config files: " + (", ".join(settings.sources) or "none (built-in defaults)"),
        f"database: {mask_url(url)}",
        f"trusts: {trust.describe()}",
        f"listening on {scheme}://{settings.bind_host}:{port}"
        + (f" with {settings.workers} workers" if settings.workers > 1 else ""),
    ):
        log.info("%s", line)
    prepare_for_serving(url, PoolOptions.from_settings(settings))
    options: dict[str, Any] = {
        "log_level": None,
        "log_config": None,
        "access_log": False,
        "http": protocol_for(settings),  # the API server's: bounded heads, one-write answers
        "proxy_headers": False,  # its callers are API servers, never behind a proxy
        "timeout_keep_alive": 75,  # longer than the client pool keeps idle connections
        "loop": "uvloop",
        **tls,
    }
    if settings.workers > 1:
        factory = functools.partial(build_registry_app, settings, data_dir=data_dir)
        code = serve_workers(
            settings.workers, settings.bind_host, port, settings.backlog, options, lambda: factory
        )
        raise typer.Exit(code)
    uvicorn.run(app, host=settings.bind_host, port=port, backlog=settings.backlog, **options)
