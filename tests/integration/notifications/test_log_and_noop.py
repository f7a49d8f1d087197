"""``logging`` writes one JSON line per event; ``noop`` (the default) records nothing."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

import httpx

from tests.server import LiveServer


def _lines(server: LiveServer, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [
            json.loads(line[line.index("{") :])
            for line in server.log.read_text().splitlines()
            if "spyglass.notification." in line and "{" in line
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_logging_writes_one_structured_line_per_event(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory("notifier_strategy = logging")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        iid = http.post("/v2/images", json={"name": "logged"}).json()["id"]
        assert http.delete(f"/v2/images/{iid}").status_code == 204
    lines = _lines(server, 2)
    assert [line["event_type"] for line in lines] == ["image.create", "image.delete"]
    first = lines[0]
    assert first["priority"] == "INFO" and first["publisher_id"] == "image.localhost"
    assert isinstance(first["payload"], dict) and first["payload"]["id"] == iid
    assert first["message_id"] and first["timestamp"]


def test_a_failed_upload_is_an_error_event_then_queued_again(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory("notifier_strategy = logging")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        body = {"name": "short", "disk_format": "raw", "container_format": "bare"}
        iid = http.post("/v2/images", json=body).json()["id"]
        put = http.put(
            f"/v2/images/{iid}/file",
            content=b"z" * 10,
            headers={"Content-Type": "application/octet-stream", "x-openstack-image-size": "11"},
        )
        assert put.status_code == 400
    lines = _lines(server, 5)
    assert [(line["event_type"], line["priority"]) for line in lines] == [
        ("image.create", "INFO"),
        ("image.update", "INFO"),
        ("image.prepare", "INFO"),
        ("image.upload", "ERROR"),
        ("image.update", "INFO"),
    ]
    failed = lines[3]["payload"]
    assert isinstance(failed, str) and iid in failed
    queued = lines[4]["payload"]
    assert isinstance(queued, dict) and queued["status"] == "queued"


def test_noop_records_nothing(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        iid = http.post("/v2/images", json={"name": "quiet"}).json()["id"]
        http.delete(f"/v2/images/{iid}")
    with sqlite3.connect(server.data_dir / "spyglass.sqlite") as db:
        assert db.execute("SELECT count(*) FROM spyglass_notifications").fetchone() == (0,)
    assert "spyglass.notification." not in server.log.read_text()
