"""A server killed during an upload: after restart nothing stays in ``saving``, nothing partial
is left, the image can be uploaded again, and images active before the crash are intact.
A live upload on another server sharing the database is never touched by a sweep."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import DIRECT
from tests.functional.helpers import create, upload
from tests.server import LiveServer

LEASE = 1.0
CHUNK = 64 * 1024


def _lines(shared: Path, *, database: bool = True) -> list[str]:
    """The store (and, for two servers at once, the SQLite database) in ``shared``."""
    lines = ["[database]", f"connection = sqlite:///{shared / 'spyglass.sqlite'}"]
    return [
        *(lines if database else []),
        "[glance_store]",
        f"filesystem_store_datadir = {shared / 'images'}",
        "[recovery]",
        f"upload_lease = {LEASE}",
    ]


def _slow_body(stop: threading.Event, total: int) -> Iterator[bytes]:
    """``total`` bytes, a chunk every 20 ms, or stop early when told."""
    sent = 0
    while sent < total and not stop.is_set():
        yield b"p" * CHUNK
        sent += CHUNK
        time.sleep(0.02)


def _upload_in_background(
    server: LiveServer, image_id: str, body: Iterator[bytes]
) -> threading.Thread:
    def send() -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=120, trust_env=False) as client:
                client.put(
                    f"/v2/images/{image_id}/file",
                    content=body,
                    headers={"Content-Type": "application/octet-stream"},
                )
        except httpx.HTTPError:
            pass  # the server was killed under it

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _status(client: httpx.Client, image_id: str) -> str:
    return str(client.get(f"/v2/images/{image_id}").json()["status"])


def _wait_for(predicate: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _partials(shared: Path) -> list[str]:
    return [p.name for p in (shared / "images").glob(".*.partial")]


@pytest.mark.backends(*DIRECT)  # its kill and sweep are not yet checked through a registry
def test_a_kill_during_an_upload_leaves_nothing_stuck(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    server = LiveServer(tmp_path / "a", _lines(shared, database=False)).start()
    kept = os.urandom(300_000)
    stop = threading.Event()
    try:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            before = create(client, name="before", disk_format="raw", container_format="bare")
            assert upload(client, before["id"], kept).status_code == 204
            image = create(client, name="cut", disk_format="raw", container_format="bare")
            _upload_in_background(server, image["id"], _slow_body(stop, 1 << 30))
            _wait_for(lambda: _status(client, image["id"]) == "saving" and _partials(shared))
        assert server.process is not None
        server.process.kill()  # no clean-up of any kind
        server.process.wait()
    finally:
        stop.set()
        server.stop()
    assert _partials(shared)  # what the crash left

    # the same data directory: the configuration's database for it (or its SQLite file)
    restarted = LiveServer(tmp_path / "a", _lines(shared, database=False)).start()
    try:
        with httpx.Client(base_url=restarted.url, timeout=30, trust_env=False) as client:
            _wait_for(lambda: _status(client, image["id"]) == "queued", timeout=5 + 4 * LEASE)
            shown = client.get(f"/v2/images/{image['id']}").json()
            assert (shown["checksum"], shown["size"]) == (None, None)
            assert _partials(shared) == []
            assert upload(client, image["id"], b"second try").status_code == 204
            assert client.get(f"/v2/images/{image['id']}/file").content == b"second try"
            again = client.get(f"/v2/images/{before['id']}/file")
            assert hashlib.md5(again.content).hexdigest() == hashlib.md5(kept).hexdigest()
    finally:
        restarted.stop()


@pytest.mark.backends("sqlite")  # two servers on one database: an explicit shared SQLite file
def test_a_live_upload_on_another_server_is_left_alone(tmp_path: Path) -> None:
    """Server B sweeps every lease while server A uploads for many leases."""
    shared = tmp_path / "shared"
    a = LiveServer(tmp_path / "a", _lines(shared)).start()
    b = LiveServer(tmp_path / "b", _lines(shared)).start()
    total = 60 * CHUNK  # about 1.2 s per 60 chunks: several leases and sweeps
    try:
        with httpx.Client(base_url=a.url, timeout=60, trust_env=False) as client:
            image = create(client, name="long", disk_format="raw", container_format="bare")
            slow = (chunk for chunk in _slow_body(threading.Event(), total * 4))
            thread = _upload_in_background(a, image["id"], slow)
            thread.join(timeout=60)
            assert not thread.is_alive()
            shown = client.get(f"/v2/images/{image['id']}").json()
            assert (shown["status"], shown["size"]) == ("active", total * 4)
    finally:
        a.stop()
        b.stop()
