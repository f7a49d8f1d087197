"""SIGTERM: the server stops accepting, lets the transfers in flight finish (up to
``graceful_shutdown_timeout``), then exits; over real sockets."""

from __future__ import annotations

import hashlib
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import LiveServer, pattern_stream

pytestmark = pytest.mark.backends("sqlite")  # server-process behaviour, one database

MIB = 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}


def _create(client: httpx.Client) -> str:
    created = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    assert created.status_code == 201
    image_id: str = created.json()["id"]
    return image_id


def _slowly(size: int, pause: float, started: threading.Event) -> Iterator[bytes]:
    for piece in pattern_stream(size):
        started.set()
        time.sleep(pause)
        yield piece


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def _wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_drains_a_slow_upload_and_download(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "drain", ["graceful_shutdown_timeout = 60"]).start()
    size = 6 * MIB
    expected = hashlib.md5(b"".join(pattern_stream(size))).hexdigest()
    client = httpx.Client(base_url=server.url, timeout=60, trust_env=False)
    stored = _create(client)
    put = client.put(f"/v2/images/{stored}/file", content=pattern_stream(size), headers=OCTETS)
    assert put.status_code == 204
    target = _create(client)
    results: dict[str, object] = {}
    upload_started, download_started = threading.Event(), threading.Event()

    def upload() -> None:
        with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http:
            body = _slowly(size, 0.4, upload_started)
            answer = http.put(f"/v2/images/{target}/file", content=body, headers=OCTETS)
            results["upload"] = answer.status_code

    def download() -> None:
        digest = hashlib.md5()
        with (
            httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http,
            http.stream("GET", f"/v2/images/{stored}/file") as answer,
        ):
            for chunk in answer.iter_bytes(256 * 1024):
                download_started.set()
                digest.update(chunk)
                time.sleep(0.1)
        results["download"] = (answer.status_code, digest.hexdigest())

    threads = [threading.Thread(target=upload), threading.Thread(target=download)]
    for thread in threads:
        thread.start()
    assert upload_started.wait(10) and download_started.wait(10)
    time.sleep(0.3)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)

    assert _wait_for(lambda: _refuses_connections(server.port), 5), "still accepting"
    assert server.process.poll() is None  # still draining
    for thread in threads:
        thread.join(60)
    assert results["upload"] == 204
    assert results["download"] == (200, expected)
    assert server.process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    client.close()

    again = LiveServer(server.data_dir, server.config_lines)
    again.port, again.url = server.port, server.url
    again.start()
    try:
        with httpx.Client(base_url=again.url, timeout=60, trust_env=False) as http:
            shown = http.get(f"/v2/images/{target}").json()
            assert shown["status"] == "active"
            assert shown["checksum"] == expected
    finally:
        again.stop()


def test_a_transfer_past_the_limit_is_cut_and_leaves_nothing(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "cut", ["graceful_shutdown_timeout = 2"]).start()
    client = httpx.Client(base_url=server.url, timeout=60, trust_env=False)
    target = _create(client)
    started = threading.Event()

    def stalled_upload() -> None:
        with (
            httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http,
            _suppressed(),
        ):
            http.put(f"/v2/images/{target}/file", content=_slowly(64 * MIB, 1.0, started))

    thread = threading.Thread(target=stalled_upload, daemon=True)
    thread.start()
    assert started.wait(10)
    time.sleep(0.5)
    assert server.process is not None
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(30)
    assert time.monotonic() - signalled < 15
    client.close()

    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http:
            assert http.get(f"/v2/images/{target}").json()["status"] == "queued"
        assert not [p for p in (server.data_dir / "images").iterdir() if target in p.name]
    finally:
        server.stop()


class _suppressed:
    """The cut-off client's own error is expected."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True
