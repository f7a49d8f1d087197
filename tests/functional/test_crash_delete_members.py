"""kill -9 in the middle of deletes and of member changes: after restart every image is
either gone or whole (active and byte-identical), member lists are consistent, and
``spyglass gc`` collects the data of any delete the kill cut short."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server import LiveServer

pytestmark = pytest.mark.backends("sqlite")  # server-process behaviour, one database

OCTETS = {"Content-Type": "application/octet-stream"}
COUNT = 24


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, trust_env=False)


def _images(server: LiveServer, count: int) -> dict[str, bytes]:
    made: dict[str, bytes] = {}
    with _client(server) as client:
        for _ in range(count):
            image_id = client.post(
                "/v2/images",
                json={"disk_format": "raw", "container_format": "bare", "visibility": "shared"},
            ).json()["id"]
            data = os.urandom(64 * 1024)
            uploaded = client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTETS)
            assert uploaded.status_code == 204
            made[image_id] = data
    return made


def _hammer(server: LiveServer, requests: list[tuple[str, str, object]]) -> None:
    """Send ``requests`` from several threads; the kill cuts them off."""

    answered = threading.Event()

    def send(part: list[tuple[str, str, object]]) -> None:
        with _client(server) as client:
            for method, path, body in part:
                try:
                    client.request(method, path, json=body)
                except httpx.HTTPError:
                    return  # the server is gone
                answered.set()

    threads = [threading.Thread(target=send, args=(requests[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    assert answered.wait(10)
    time.sleep(0.05)  # a few more in flight
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    for thread in threads:
        thread.join(30)


def _whole_or_gone(client: httpx.Client, image_id: str, data: bytes) -> str:
    shown = client.get(f"/v2/images/{image_id}")
    if shown.status_code == 404:
        assert client.get(f"/v2/images/{image_id}/file").status_code == 404
        return "gone"
    assert shown.json()["status"] == "active", shown.json()
    body = client.get(f"/v2/images/{image_id}/file").content
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    return "whole"


def test_a_kill_during_deletes_leaves_each_image_gone_or_whole(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "deletes").start()
    doomed = _images(server, COUNT)
    kept = _images(server, 3)
    _hammer(server, [("DELETE", f"/v2/images/{i}", None) for i in doomed])

    server.start()
    try:
        with _client(server) as client:
            outcome = [_whole_or_gone(client, i, d) for i, d in doomed.items()]
            assert "gone" in outcome  # the kill came after some deletes
            for image_id, data in kept.items():
                assert _whole_or_gone(client, image_id, data) == "whole"
            for image_id in [i for i, o in zip(doomed, outcome, strict=True) if o == "whole"]:
                assert client.delete(f"/v2/images/{image_id}").status_code == 204
        gc = subprocess.run(
            [sys.executable, "-m", "spyglass", "gc", "--config-file", str(server.config),
             "--data-dir", str(server.data_dir), "--grace", "0", "--no-progress"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert gc.returncode == 0, gc.stderr
        left = sorted(p.name for p in (server.data_dir / "images").iterdir())
        assert left == sorted(kept)
        with _client(server) as client:
            for image_id, data in kept.items():
                assert _whole_or_gone(client, image_id, data) == "whole"
    finally:
        server.stop()


def test_a_kill_during_member_changes_leaves_consistent_members(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "members").start()
    images = _images(server, 2)
    target, other = list(images)
    with _client(server) as client:
        for n in range(COUNT):
            client.post(f"/v2/images/{target}/members", json={"member": f"settled-{n}"})
    changes: list[tuple[str, str, object]] = []
    for n in range(COUNT):
        changes.append(("POST", f"/v2/images/{target}/members", {"member": f"new-{n}"}))
        changes.append(("PUT", f"/v2/images/{target}/members/settled-{n}", {"status": "accepted"}))
        changes.append(("DELETE", f"/v2/images/{target}/members/settled-{n}", None))
    _hammer(server, changes)

    server.start()
    try:
        with _client(server) as client:
            members = client.get(f"/v2/images/{target}/members").json()["members"]
            names = [m["member_id"] for m in members]
            assert len(names) == len(set(names))
            for member in members:
                assert member["status"] in ("pending", "accepted")
                shown = client.get(f"/v2/images/{target}/members/{member['member_id']}")
                assert shown.json() == member
            for image_id, data in images.items():
                assert _whole_or_gone(client, image_id, data) == "whole"
            # the list still takes changes: every settled member can be removed or re-added
            for n in range(COUNT):
                name = f"settled-{n}"
                if name in names:
                    assert client.delete(f"/v2/images/{target}/members/{name}").status_code == 204
                else:
                    added = client.post(f"/v2/images/{target}/members", json={"member": name})
                    assert added.status_code == 200
            assert client.get(f"/v2/images/{other}/members").json()["members"] == []
    finally:
        server.stop()
