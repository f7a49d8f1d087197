"""A fresh database of each kind per test, and the ``spyglass`` command run against it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import inspect

from spyglass.db.engine import create_database
from tests.databases import BACKENDS, drop_database, fresh_database


@dataclass(frozen=True)
class Db:
    backend: str
    url: str
    config: Path

    def spyglass(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``spyglass ARGS --config-file`` (a file naming this database), captured."""
        return spyglass(*args, "--config-file", str(self.config))


def spyglass(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spyglass", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


def write_config(path: Path, url: str, *lines: str) -> Path:
    path.write_text("[database]\nconnection = " + url + "\n" + "".join(f"{x}\n" for x in lines))
    return path


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Db]:
    url, name = await fresh_database(request.param, tmp_path)
    try:
        yield Db(request.param, url, write_config(tmp_path / "db.conf", url))
    finally:
        await drop_database(request.param, name)


async def tables(url: str) -> set[str]:
    """The names of the tables in the database ``url`` names."""
    database = create_database(url)
    found: set[str] = set()
    try:
        await database.run_on_connection(
            lambda connection: found.update(inspect(connection).get_table_names())
        )
    finally:
        await database.dispose()
    return found
