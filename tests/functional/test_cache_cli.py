"""``spyglass cache``: the glance-cache-* jobs, on the cache of a running server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.test_cache import entries, new_image, wait_cached
from tests.server import LiveServer

SIZE = 200_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path / "server"
    lines = [
        f"image_cache_dir = {data_dir / 'cache'}",
        f"image_cache_max_size = {SIZE + 10}",
        "[paste_deploy]",
        "flavor = cachemanagement",
    ]
    live = LiveServer(data_dir, lines).start()
    yield live
    live.stop()


def cache_cli(server: LiveServer, *args: str, ok: bool = True) -> str:
    command = [sys.executable, "-m", "spyglass", "cache", *args]
    command += ["--config-file", str(server.config), "--data-dir", str(server.data_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_cache_commands(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        first = new_image(client, os.urandom(SIZE))
        second = new_image(client, os.urandom(SIZE))
        client.get(f"/v2/images/{first}/file")
        wait_cached(client, first)

        listed = cache_cli(server, "list")
        assert first in listed and second not in listed and str(SIZE) in listed
        assert "No queued images." in cache_cli(server, "list-queued")

        assert f"queued image {second}" in cache_cli(server, "queue", second)
        assert cache_cli(server, "list-queued").split() == [second]
        prefetched = cache_cli(server, "prefetch", "--no-progress")
        assert "prefetched 1 image(s), 0 failed" in prefetched
        assert set(entries(client)) == {first, second}
        assert "No queued images." in cache_cli(server, "list-queued")
        assert client.get(f"/v2/images/{second}/file").status_code == 200  # a hit

        # image_cache_max_size holds one image: the least recently used goes.
        assert "pruned 1 file(s), 200000 bytes" in cache_cli(server, "prune")
        assert set(entries(client)) == {second}

        cache = server.data_dir / "cache"
        (cache / "invalid" / "junk").write_bytes(b"x")
        (cache / "incomplete" / first).write_bytes(b"half")
        cleaned = cache_cli(server, "clean")
        assert "removed 1 incomplete and 1 invalid file(s)" in cleaned

        assert f"deleted image {second}" in cache_cli(server, "delete", second)
        assert "no image found" in cache_cli(server, "delete", "no-such", ok=False).lower()
        assert "no image found" in cache_cli(server, "queue", "no-such-image", ok=False).lower()

        cache_cli(server, "queue", first)
        assert "removed 1 image(s)" in cache_cli(server, "clear", "--target", "queue")
        assert "No cached images." in cache_cli(server, "list")


def test_prefetch_shows_progress(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        image_id = new_image(client, os.urandom(SIZE))
    cache_cli(server, "queue", image_id)
    output = cache_cli(server, "prefetch")
    assert image_id in output and "prefetched 1 image(s)" in output


def test_without_a_cache_dir_the_commands_refuse(tmp_path: Path) -> None:
    config = tmp_path / "api.conf"
    config.write_text("[DEFAULT]\n")
    command = [sys.executable, "-m", "spyglass", "cache", "list", "--config-file", str(config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "image_cache_dir is not set" in result.stderr
