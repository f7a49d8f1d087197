"""The ASGI entry point for ``spyglass api`` with several worker processes.

Each worker imports this module and builds its own app from the same files;
the parent passes them through the environment, since uvicorn's workers take an
import string rather than an object.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from spyglass.config import Settings, load_settings
from spyglass.logs import configure_logging

if TYPE_CHECKING:
    from starlette.applications import Starlette

ENV = "SPYGLASS_SERVE"


def serve_environment(
    config_files: list[Path], config_dir: Path | None, data_dir: Path
) -> dict[str, str]:
    """What ``create_app`` needs, as one environment variable."""
    document = {
        "config_files": [str(p) for p in config_files],
        "config_dir": str(config_dir) if config_dir else None,
        "data_dir": str(data_dir),
    }
    return {ENV: json.dumps(document)}


def worker_settings() -> Settings:
    """The settings the parent loaded, loaded again in a worker from the same files."""
    document = json.loads(os.environ[ENV])
    config_dir = Path(document["config_dir"]) if document["config_dir"] else None
    return load_settings([Path(p) for p in document["config_files"]], config_dir)


def configure_worker_logging() -> None:
    """Log in a worker as in the parent: a spawned process starts with no handlers."""
    configure_logging(worker_settings())


def create_app() -> Starlette:
    """Build the app in a worker from what the parent put in the environment.

    The app is imported here, not with this module, so that the parent process,
    which only needs ``serve_environment``, does not pay for importing it."""
    from spyglass.api.app import build_app

    data_dir = Path(json.loads(os.environ[ENV])["data_dir"])
    return build_app(worker_settings(), data_dir=data_dir)
