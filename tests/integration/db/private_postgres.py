"""The private PostgreSQL cluster of ``scripts/postgres.sh``: a server tests may stop and start.

Each test gets its own role (with a password of its own, so logs can be searched
for it) and database; the machine's own server on 5432 is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "postgres.sh"
PORT = int(os.environ.get("PG_PORT", "15432"))


def unavailable(reason: str) -> None:
    """Skip, except in CI where a missing backend is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _script(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=check
    )


@dataclass
class PrivatePostgres:
    """One role and database on the private cluster, and the cluster's start and stop."""

    role: str
    password: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.role}:{self.password}@127.0.0.1:{PORT}/{self.database}"

    def url_with_password(self, password: str) -> str:
        return f"postgresql://{self.role}:{password}@127.0.0.1:{PORT}/{self.database}"

    def stop(self) -> None:
        _script("stop")

    def start(self) -> None:
        _script("start")

    def sql(self, statement: str) -> str:
        return _script("psql", "-c", statement).stdout.strip()

    def set_password(self, password: str) -> None:
        """Change the role's password and end its sessions (so pooled connections must log in)."""
        self.sql(f"ALTER ROLE {self.role} PASSWORD '{password}'")
        self.sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{self.role}'"
        )


def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh role and database on the (started) private cluster; dropped afterwards."""
    if shutil.which("runuser") is None and os.geteuid() == 0:
        unavailable("runuser is missing: cannot run the private PostgreSQL cluster")
    started = _script("start", check=False)
    if started.returncode != 0:
        unavailable(f"scripts/postgres.sh start failed: {started.stderr.strip()}")
    suffix = uuid.uuid4().hex[:10]
    found = PrivatePostgres(f"fault_{suffix}", f"pw-{uuid.uuid4().hex}", f"fault_{suffix}")
    found.sql(f"CREATE ROLE {found.role} LOGIN PASSWORD '{found.password}'")
    found.sql(f"CREATE DATABASE {found.database} OWNER {found.role}")
    try:
        yield found
    finally:
        found.start()
        found.sql(f"DROP DATABASE IF EXISTS {found.database} WITH (FORCE)")
        found.sql(f"DROP ROLE IF EXISTS {found.role}")
