"""Real servers for the security regression tests, in trusted-auth mode.

``secure_server`` starts a server on SQLite; ``race_server`` is parametrized
over SQLite, PostgreSQL and MariaDB (a fresh database each, schema synced
first), for the tests that race real concurrent requests. A database server
that does not answer is skipped with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import sync_schema
from tests.databases import BACKENDS, drop_database, fresh_database
from tests.server import LiveServer

StartServer = Callable[..., LiveServer]


def caller(project: str, roles: str = "member,reader", user: str | None = None) -> dict[str, str]:
    """The headers an authenticating proxy sets for a user of ``project``."""
    return {
        "X-Identity-Status": "Confirmed",
        "X-Project-Id": project,
        "X-User-Id": user or f"user-of-{project}",
        "X-Roles": roles,
    }


ADMIN = caller("admin-project", "admin,member,reader")
ALICE = caller("project-a")
BOB = caller("project-b")


@pytest.fixture
def secure_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start trusted-auth servers on SQLite with extra config lines ([DEFAULT] first)."""
    started: list[LiveServer] = []

    def start(*lines: str) -> LiveServer:
        server = LiveServer(
            tmp_path / f"server{len(started)}", [*lines, "[paste_deploy]", "flavor = trusted-auth"]
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(params=BACKENDS)
def race_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StartServer]:
    """Like ``secure_server``, on each database kind in turn."""
    backend: str = request.param
    connection, name = asyncio.run(fresh_database(backend, tmp_path))
    if backend != "sqlite":
        sync_schema(connection, tmp_path / "sync")
    started: list[LiveServer] = []

    def start(*lines: str) -> LiveServer:
        server = LiveServer(
            tmp_path / f"server{len(started)}",
            [*lines, "[database]", f"connection = {connection}",
             "[paste_deploy]", "flavor = trusted-auth"],
        ).start()  # fmt: skip
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    asyncio.run(drop_database(backend, name))


def client_for(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60, trust_env=False)
