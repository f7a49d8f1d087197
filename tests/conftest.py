"""Shared fixtures: a real server over a real socket, and clients for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.http_origin import HttpOrigin
from tests.server import LiveServer


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server with embedded defaults, shared by the whole session."""
    server = LiveServer(tmp_path_factory.mktemp("spyglass")).start()
    yield server
    server.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers with their own config lines; all are stopped after the test."""
    started: list[LiveServer] = []

    def start(*config_lines: str) -> LiveServer:
        server = LiveServer(tmp_path / f"server{len(started)}", config_lines).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30, trust_env=False) as http:
        yield http


@pytest.fixture
def origin() -> Iterator[HttpOrigin]:
    """A web server on loopback holding image bytes (HTTP locations, copy-from)."""
    with HttpOrigin() as server:
        yield server
