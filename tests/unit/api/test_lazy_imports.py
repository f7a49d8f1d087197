"""A default-config API app does not import what only some configurations need.

Start-up time is spent importing: the AMQP clients, the object-store clients,
and Keystone's token checks stay unloaded until a
configuration uses them. Checked in a fresh interpreter, as ``spyglass api``
builds the app in each worker.
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
)

_BUILD = """
import json, sys
from pathlib import Path
from spyglass.api.app import build_app
from spyglass.config import load_settings

build_app(load_settings([], None, {}), data_dir=Path(sys.argv[1]))
print(json.dumps(sorted(sys.modules)))
"""


def test_default_app_leaves_optional_modules_unloaded(tmp_path: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", _BUILD, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = set(json.loads(found.stdout.splitlines()[-1]))
    eager = sorted(
        name for name in LAZY if name in loaded or any(m.startswith(name + ".") for m in loaded)
    )
    assert eager == []


_START = """
import json, sys
from spyglass.cli.db import prepare_for_serving
from spyglass.config import load_settings
from spyglass.db.engine import PoolOptions

url = "sqlite:///" + sys.argv[1] + "/spyglass.sqlite"
prepare_for_serving(url, PoolOptions.from_settings(load_settings([], None, {})))
print(json.dumps(sorted(sys.modules)))
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
