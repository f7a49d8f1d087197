"""``spyglass gc`` against a running server's database and store."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from tests.server import LiveServer

pytestmark = pytest.mark.backends("sqlite")  # server-process behaviour, one database

OCTETS = {"Content-Type": "application/octet-stream"}


def _gc(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "spyglass", "gc", "--config-file", str(server.config)]
    command += ["--data-dir", str(server.data_dir), "--no-progress", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _image(client: httpx.Client, data: bytes) -> str:
    created = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    image_id: str = created.json()["id"]
    assert (
        client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTETS).status_code == 204
    )
    return image_id


def test_gc_removes_only_old_orphans(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    datadir = server.data_dir / "images"
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        active = _image(client, b"active data")
        deleted = _image(client, b"deleted data")
        saved = (datadir / deleted).read_bytes()
        assert client.delete(f"/v2/images/{deleted}").status_code == 204
        (datadir / deleted).write_bytes(saved)  # as a delete whose store call failed leaves it
        old = time.time() - 7200
        os.utime(datadir / deleted, (old, old))
        os.utime(datadir / active, (old, old))
        young = "11111111-2222-4333-8444-555555555555"
        (datadir / young).write_bytes(b"an upload not yet recorded")

        dry = _gc(server, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert f"orphan {(datadir / deleted).as_uri()}" in dry.stdout
        assert "1 orphan(s) (12 B) would be removed, 1 too young" in dry.stdout
        assert (datadir / deleted).exists()

        done = _gc(server, "--grace", "600")
        assert done.returncode == 0, done.stderr
        assert "3 object(s) scanned, 1 orphan(s) removed (12 B)" in done.stdout
        assert not (datadir / deleted).exists()
        assert (datadir / young).exists()
        body = client.get(f"/v2/images/{active}/file").content
        assert hashlib.md5(body).hexdigest() == hashlib.md5(b"active data").hexdigest()

        again = _gc(server, "--grace", "0")  # now the young file is old enough too
        assert "2 object(s) scanned, 1 orphan(s) removed" in again.stdout
        assert client.get(f"/v2/images/{active}/file").content == b"active data"


def test_gc_refuses_a_negative_grace(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    answer = _gc(server, "--grace", "-1")
    assert answer.returncode == 2
    assert "positive seconds" in answer.stderr


def test_gc_every_runs_again_until_stopped(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    command = [sys.executable, "-m", "spyglass", "gc", "--config-file", str(server.config),
               "--data-dir", str(server.data_dir), "--no-progress", "--every", "0.5"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as running:
        assert running.stdout is not None
        first = running.stdout.readline()
        orphan = server.data_dir / "images" / "22222222-3333-4444-8555-666666666666"
        orphan.write_bytes(b"left by a crash")
        old = time.time() - 7200
        os.utime(orphan, (old, old))
        deadline = time.monotonic() + 30
        seen = [first]
        while time.monotonic() < deadline and "1 orphan(s) removed" not in seen[-1]:
            seen.append(running.stdout.readline())
        running.terminate()
    assert "0 orphan(s) removed" in first
    assert "1 orphan(s) removed" in seen[-1]
    assert not orphan.exists()
