"""python-glanceclient's cache commands (``glance cache-*``) against a Spyglass cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import Cli, _cli, table_rows
from tests.functional.test_cache import entries, new_image, wait_cached
from tests.server import LiveServer

pytestmark = pytest.mark.compat


@pytest.fixture
def cache_server(tmp_path: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path / "server"
    lines = [f"image_cache_dir = {data_dir / 'cache'}", "[paste_deploy]", "flavor = caching"]
    server = LiveServer(data_dir, lines).start()
    yield server
    server.stop()


@pytest.fixture
def glance_cache(cache_server: LiveServer, cli_env: tuple[Path, dict[str, str]]) -> Cli:
    args = ("--os-image-url", cache_server.url, "--os-auth-token", "x")
    return _cli("glance", "python-glanceclient", args, cli_env)


def _states(output: str) -> dict[str, str]:
    """Image id -> state (``cached``/``queued``) from ``glance cache-list``."""
    return {row[0]: row[1] for row in table_rows(output) if row and row[0] != "ID"}


def test_glance_cache_commands(glance_cache: Cli, cache_server: LiveServer) -> None:
    with httpx.Client(base_url=cache_server.url, timeout=30, trust_env=False) as client:
        cached = new_image(client, os.urandom(100_000))
        queued = new_image(client, os.urandom(100_000))
        assert client.get(f"/v2/images/{cached}/file").status_code == 200
        wait_cached(client, cached)
        assert _states(glance_cache.run("cache-list").stdout) == {cached: "cached"}

        glance_cache.run("cache-queue", queued)
        wait_cached(client, queued)  # the 2.16 behaviour: queued and cached at once
        assert _states(glance_cache.run("cache-list").stdout) == {
            cached: "cached",
            queued: "cached",
        }

        glance_cache.run("cache-delete", cached)
        assert set(entries(client)) == {queued}

        pruned = glance_cache.run("cache-prune")
        assert "Pruned 0 file(s)" in pruned.stdout
        glance_cache.run("cache-clean")

        glance_cache.run("cache-clear", "--target", "queue")
        assert set(entries(client)) == {queued}
        glance_cache.run("cache-clear")
        assert _states(glance_cache.run("cache-list").stdout) == {}
