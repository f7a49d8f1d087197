"""Serve Spyglass's app under another ASGI server, for ``bench/asgi_servers.py``.

    python bench/asgi_launch.py KIND HOST PORT WORKERS CONFIG DATA_DIR

Needs the ``bench-servers`` extra (``pip install -e '.[bench-servers]'``). KIND is
``granian`` (its ``http.response.pathsend``), ``hypercorn`` (no file extension), or
``uvicorn-stock`` (uvicorn's own httptools protocol, without Spyglass's zero-copy send and
head limits, on the same per-worker ``SO_REUSEPORT`` sockets as ``spyglass api``). The
database is prepared as ``spyglass api`` prepares it; each worker builds the app from the
same files (``build_app``) and logs as ``spyglass api``'s workers do. Measurement only:
``spyglass api`` stays the way to serve.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

HERE = Path(__file__).resolve().parent
ENV = "SPYGLASS_BENCH_SERVE"
"""The configuration file and the data directory, for workers the server spawns."""


def app() -> Starlette:
    """The app factory each worker calls (``asgi_launch:app``)."""
    from spyglass.api.app import build_app
    from spyglass.config import load_settings
    from spyglass.logs import configure_logging

    config, data_dir = os.environ[ENV].split(os.pathsep)
    settings = load_settings([Path(config)], None)
    configure_logging(settings)
    return build_app(settings, data_dir=Path(data_dir))


def main(argv: list[str]) -> None:
    kind, host, port, workers, config, data_dir = argv
    from spyglass.api.basics import database_url
    from spyglass.cli.db import prepare_for_serving
    from spyglass.config import load_settings
    from spyglass.db.engine import PoolOptions

    settings = load_settings([Path(config)], None)
    prepare_for_serving(database_url(settings, Path(data_dir)), PoolOptions.from_settings(settings))
    os.environ[ENV] = os.pathsep.join([config, data_dir])
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    if kind == "granian":  # optional (the bench-servers extra): looked up, not imported
        granian: Any = importlib.import_module("granian")
        granian.Granian(
            "asgi_launch:app",
            address=host,
            port=int(port),
            interface="asgi",
            workers=int(workers),
            factory=True,
            loop="uvloop",
            http="1",
            log_access=False,
        ).serve()
    elif kind == "hypercorn":
        os.execv(
            sys.executable,
            [sys.executable, "-m", "hypercorn", "--workers", workers, "--worker-class",
             "uvloop", "--bind", f"{host}:{port}", "asgi_launch:app()"],
        )  # fmt: skip
    elif kind == "uvicorn-stock":
        from spyglass.cli.workers import serve_workers

        options = {"log_level": None, "log_config": None, "access_log": False,
                   "http": "httptools", "loop": "uvloop"}  # fmt: skip
        code = serve_workers(int(workers), host, int(port), settings.backlog, options, lambda: app)
        sys.exit(code)
    else:
        sys.exit(f"unknown server {kind!r}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main(sys.argv[1:])
