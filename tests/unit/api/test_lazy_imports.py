"""A default-config API server does not import what only some configurations need.

Start-up time is spent importing: the AMQP clients, the object-store clients,
and Keystone's token checks stay unloaded until a configuration uses them; httpx
(with the rich and pygments its command line brings), jsonschema, oslo.utils'
format inspectors and PyYAML until a request or a file needs them (``spyglass.lazy``:
such a module is in ``sys.modules`` but its code has not run); SQLAlchemy's asyncio
layer and greenlet unless the database is PostgreSQL or MySQL; the image cache and
prometheus_client unless the cache is on; alembic unless the schema needs a change.
Checked in a fresh interpreter, as ``spyglass api`` imports the CLI and builds the app
before it forks its workers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LAZY = (
    "aio_pika",
    "aiormq",
    "proton",
    "aiobotocore",
    "botocore",
    "keystoneauth1",
    "spyglass.auth.keystone",
    "spyglass.stores.s3",
    "spyglass.stores.swift",
    "spyglass.stores.rbd",
    "rados",
    "rbd",
    "asyncpg",
    "aiomysql",
    "httpx",
    "rich",
    "pygments",
    "jsonschema",
    "oslo_utils",
    "spyglass.streams.inspect",
    "yaml",
    "alembic",
    "sqlalchemy.ext.asyncio",
    "greenlet",
    "spyglass.cache",
    "prometheus_client",
)

_LOADED = "print(json.dumps(sorted(m for m in list(sys.modules) if is_loaded(m))))"

_BUILD = f"""
import json, sys
from pathlib import Path
import spyglass.cli.main
from spyglass.api.app import build_app
from spyglass.config import load_settings
from spyglass.lazy import is_loaded

build_app(load_settings([], None, {{}}), data_dir=Path(sys.argv[1]))
{_LOADED}
"""


def test_default_app_leaves_optional_modules_unloaded(tmp_path: Path) -> None:
    loaded = _modules_after(_BUILD, str(tmp_path))
    eager = sorted(
        name for name in LAZY if name in loaded or any(m.startswith(name + ".") for m in loaded)
    )
    assert eager == []


_START = f"""
import json, sys
from spyglass.cli.db import prepare_for_serving
from spyglass.config import load_settings
from spyglass.db.engine import PoolOptions
from spyglass.lazy import is_loaded

url = "sqlite:///" + sys.argv[1] + "/spyglass.sqlite"
prepare_for_serving(url, PoolOptions.from_settings(load_settings([], None, {{}})))
{_LOADED}
"""


def _modules_after(script: str, *args: str) -> set[str]:
    found = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return set(json.loads(found.stdout.splitlines()[-1]))


def test_starting_on_a_current_schema_leaves_alembic_unloaded(tmp_path: Path) -> None:
    assert "alembic" in _modules_after(_START, str(tmp_path))  # a new database: created
    assert "alembic" not in _modules_after(_START, str(tmp_path))  # current: one row read
