"""Nothing is lost: a broker outage, a killed server, two servers on one database.

These tests stop and start a private RabbitMQ (``scripts/rabbitmq.sh``, its own
ports and data), never the machine's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import drop_database, fresh_database
from tests.integration.notifications.harness import (
    PrivateBroker,
    Received,
    listening,
    unique_topic,
)
from tests.server import LiveServer

JSON_PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
pytestmark = pytest.mark.slow


def _config(port: int, topic: str, *extra: str) -> list[str]:
    return [
        "notifier_strategy = rabbit",
        "rabbit_host = 127.0.0.1",
        f"rabbit_port = {port}",
        f"rabbit_notification_topic = {topic}",
        "rabbit_retry_backoff = 1",
        "rabbit_retry_max_backoff = 1",
        *extra,
    ]


@pytest.fixture
def broker(private_broker: PrivateBroker) -> Iterator[PrivateBroker]:
    """The private broker, running again after the test whatever it did."""
    yield private_broker
    private_broker.start()


def _changes(http: httpx.Client, images: int, updates: int) -> tuple[list[str], list[float]]:
    """Create ``images`` images and rename each ``updates`` times; the request times."""
    ids, times = [], []
    for _ in range(images):
        start = time.perf_counter()
        response = http.post("/v2/images", json={"name": "r0", "disk_format": "raw"})
        times.append(time.perf_counter() - start)
        assert response.status_code == 201
        ids.append(response.json()["id"])
    for round_ in range(1, updates + 1):
        for iid in ids:
            patch = [{"op": "replace", "path": "/name", "value": f"r{round_}"}]
            start = time.perf_counter()
            response = http.patch(f"/v2/images/{iid}", json=patch, headers=JSON_PATCH)
            times.append(time.perf_counter() - start)
            assert response.status_code == 200
    return ids, times


def _check_complete(got: list[Received], ids: list[str], updates: int) -> None:
    assert len({m.message_id for m in got}) == len(got), "an event arrived twice"
    for iid in ids:
        names = [m.payload["name"] for m in got if m.payload["id"] == iid]
        assert names == [f"r{n}" for n in range(updates + 1)], iid  # all, in order


def test_a_broker_outage_delays_events_but_loses_none(
    server_factory: Callable[..., LiveServer], broker: PrivateBroker
) -> None:
    topic = unique_topic()
    server = server_factory(*_config(broker.port, topic))
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        with listening(broker.port, topic) as listener:
            _, normal = _changes(http, 10, 1)  # broker up: the normal speed
            assert len(listener.collect(20, timeout=30)) == 20
        broker.stop()
        ids, during = _changes(http, 10, 9)  # 100 changes, broker down
    assert len(during) == 100
    # requests never wait for the broker
    assert statistics.median(during) < 3 * statistics.median(normal) + 0.02
    assert max(during) < 2.0
    status = _status(server)
    assert "100 waiting" in status, status
    broker.start()
    with listening(broker.port, topic) as listener:
        got = listener.collect(100, timeout=60)
        got += listener.quiet(2.0)
    _check_complete(got, ids, 9)
    assert len(got) == 100


def _status(server: LiveServer) -> str:
    command = [sys.executable, "-m", "spyglass", "notifications", "status"]
    command += ["--config-file", str(server.config), "--data-dir", str(server.data_dir)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_events_of_a_killed_server_are_sent_after_its_restart(
    tmp_path: Path, broker: PrivateBroker
) -> None:
    topic = unique_topic()
    broker.stop()
    server = LiveServer(tmp_path / "api", _config(broker.port, topic)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
            ids, _ = _changes(http, 5, 3)  # committed; the broker is away
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait()  # type: ignore[union-attr]
        broker.start()
        restarted = LiveServer(tmp_path / "api", _config(broker.port, topic))
        restarted.start()
        try:
            with listening(broker.port, topic) as listener:
                got = listener.collect(20, timeout=60) + listener.quiet(1.0)
        finally:
            restarted.stop()
    finally:
        server.stop()
    _check_complete(got, ids, 3)
    assert len(got) == 20


def test_two_servers_on_one_postgresql_deliver_each_event_once(
    tmp_path: Path, broker: PrivateBroker
) -> None:
    url, name = asyncio.run(fresh_database("postgresql", tmp_path))
    topic = unique_topic()
    lines = _config(broker.port, topic, f"sql_connection = {url}")
    servers: list[LiveServer] = []
    try:
        conf = tmp_path / "sync.conf"
        conf.write_text("[DEFAULT]\n" + "\n".join(lines) + "\n")
        sync = [sys.executable, "-m", "spyglass", "db", "sync", "--config-file", str(conf)]
        subprocess.run(sync, check=True, capture_output=True)
        servers = [LiveServer(tmp_path / f"api{n}", lines).start() for n in range(2)]
        broker.stop()  # let a backlog build up, so both publishers compete for it
        ids: list[str] = []
        clients = [httpx.Client(base_url=s.url, timeout=30, trust_env=False) for s in servers]
        try:
            for n in range(10):
                http = clients[n % 2]
                iid = http.post("/v2/images", json={"name": "r0"}).json()["id"]
                ids.append(iid)
            for round_ in range(1, 10):
                for n, iid in enumerate(ids):
                    patch = [{"op": "replace", "path": "/name", "value": f"r{round_}"}]
                    response = clients[(n + round_) % 2].patch(
                        f"/v2/images/{iid}", json=patch, headers=JSON_PATCH
                    )
                    assert response.status_code == 200
        finally:
            for http in clients:
                http.close()
        broker.start()
        with listening(broker.port, topic) as listener:
            got = listener.collect(100, timeout=60) + listener.quiet(3.0)
    finally:
        for server in servers:
            server.stop()
        asyncio.run(drop_database("postgresql", name))
    _check_complete(got, ids, 9)
    assert len(got) == 100
