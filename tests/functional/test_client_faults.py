"""Clients that go away: mid-upload the image goes back to ``queued`` with nothing kept;
mid-download the server closes the file and carries on. Over real sockets."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.server import LiveServer, pattern_stream

pytestmark = pytest.mark.backends("sqlite")  # server-process behaviour, one database

MIB = 1024 * 1024
OCTETS = {"Content-Type": "application/octet-stream"}


def _status(client: httpx.Client, image_id: str) -> str:
    status: str = client.get(f"/v2/images/{image_id}").json()["status"]
    return status


def _open_files(pid: int, under: Path) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(under))
        except FileNotFoundError:
            continue
    return count


def test_clients_that_go_away_leave_nothing_behind(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "faults").start()
    images = server.data_dir / "images"
    try:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
            created = client.post(
                "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
            )
            image_id = created.json()["id"]
            with socket.create_connection(("127.0.0.1", server.port)) as raw:
                raw.sendall(
                    f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
                    f"Content-Type: application/octet-stream\r\n"
                    f"Content-Length: {64 * MIB}\r\n\r\n".encode()
                )
                raw.sendall(os.urandom(2 * MIB))
                deadline = time.monotonic() + 10
                while _status(client, image_id) != "saving" and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert _status(client, image_id) == "saving"
            deadline = time.monotonic() + 15
            while _status(client, image_id) != "queued" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _status(client, image_id) == "queued"
            assert not [p.name for p in images.iterdir() if image_id in p.name]
            again = client.put(f"/v2/images/{image_id}/file", content=b"second try", headers=OCTETS)
            assert again.status_code == 204  # the owner can upload again at once

            stored = client.post(
                "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
            ).json()["id"]
            client.put(
                f"/v2/images/{stored}/file", content=pattern_stream(32 * MIB), headers=OCTETS
            )
            for _ in range(5):
                with httpx.stream(
                    "GET", f"{server.url}/v2/images/{stored}/file", trust_env=False
                ) as answer:
                    next(answer.iter_bytes(64 * 1024))
                # closed after the first piece: the server's write fails, the file is closed
            deadline = time.monotonic() + 10
            while _open_files(server.pid, images) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _open_files(server.pid, images) == 0
            whole = client.get(f"/v2/images/{stored}/file").content
            assert whole == b"".join(pattern_stream(32 * MIB))
    finally:
        server.stop()
