"""Two API servers (separate processes, own ports and caches) behind HAProxy, on one
PostgreSQL database, one shared filesystem store and RabbitMQ on 5672.

Every test runs in two deployments: the API servers on the database directly, and the
API servers on one ``spyglass registry`` in front of it (HTTPS, shared token; the
registry publishes the notifications of the changes it writes). HAProxy comes from
``scripts/haproxy.sh`` (Debian's package), PostgreSQL from the machine
(``tests/databases.py`` makes a fresh database). Without either the tests skip, except
under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backends import BACKENDS, Provisioner
from tests.databases import drop_database, fresh_database
from tests.load.mixed import LoadReport, run_load
from tests.server import LiveServer, RegistryServer, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
OCTETS = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
LEASE = 3.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Cluster:
    servers: list[LiveServer]
    balancer: str
    store: Path
    registry: RegistryServer | None = None
    """The one registry both servers use (``None``: they use the database directly)."""

    def client(self, where: str | LiveServer) -> httpx.Client:
        url = where if isinstance(where, str) else where.url
        return httpx.Client(base_url=url, timeout=60, trust_env=False)


def _haproxy(command: str, services: Path, port: int, backends: list[LiveServer]) -> None:
    env = {
        **os.environ,
        "SPYGLASS_SERVICES_DIR": str(services),
        "HAPROXY_PORT": str(port),
        "HAPROXY_BACKENDS": " ".join(f"127.0.0.1:{s.port}" for s in backends),
    }
    done = subprocess.run(
        [str(ROOT / "scripts" / "haproxy.sh"), command],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0 and command == "start":
        _unavailable(f"scripts/haproxy.sh start failed: {done.stderr.strip()}")


def _metadata(
    deployment: str, connection: str, tmp: Path, notifications: list[str]
) -> tuple[list[str], list[str], RegistryServer | None]:
    """How the API servers reach metadata: their ``[DEFAULT]`` lines and their sections,
    and the registry they share in the registry deployment (started here)."""
    if deployment == "direct":
        return [], ["[database]", f"connection = {connection}"], None
    provisioner = Provisioner(BACKENDS["postgresql-registry"], tmp / "registry-tls")
    registry = RegistryServer(tmp / "registry", provisioner, connection, notifications)
    return registry.start().client_lines(), [], registry


@pytest.fixture(scope="module", params=["direct", "registry"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if not (ROOT / "scripts" / "haproxy.sh").exists():
        _unavailable("scripts/haproxy.sh is missing")
    tmp = tmp_path_factory.mktemp("scaleout")
    connection, name = asyncio.run(fresh_database("postgresql", tmp))
    conf = tmp / "sync.conf"
    conf.write_text(f"[database]\nconnection = {connection}\n")
    subprocess.run(
        [sys.executable, "-m", "spyglass", "db", "sync", "--config-file", str(conf)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    store = tmp / "shared-images"
    topic = f"scaleout_{uuid.uuid4().hex[:8]}"
    notifications = [
        "[oslo_messaging_notifications]",
        "driver = messagingv2",
        "transport_url = rabbit://guest:guest@127.0.0.1:5672/",
        f"topics = {topic}",
    ]
    head, database, registry = _metadata(request.param, connection, tmp, notifications)
    servers = []
    for index in range(2):
        data_dir = tmp / f"api{index}"
        server = LiveServer(data_dir)
        server.config_lines = [
            *head,
            f"image_cache_dir = {data_dir / 'cache'}",
            f"worker_self_reference_url = {server.url}",
            "graceful_shutdown_timeout = 5",
            *database,
            "[glance_store]",
            f"filesystem_store_datadir = {store}",
            *notifications,
            "[recovery]",
            f"upload_lease = {LEASE}",
        ]
        servers.append(server.start())
    port = free_port()
    services = tmp / "services"
    _haproxy("start", services, port, servers)
    balancer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # both servers pass HAProxy's health check
        try:
            if httpx.get(f"{balancer}/healthcheck", trust_env=False).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    yield Cluster(servers, balancer, store, registry)
    _haproxy("stop", services, port, servers)
    for server in servers:
        server.stop()
    if registry is not None:
        registry.stop()
    asyncio.run(drop_database("postgresql", name))


def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def _upload(client: httpx.Client, data: bytes, **fields: object) -> str:
    body = {"disk_format": "raw", "container_format": "bare", **fields}
    image_id: str = client.post("/v2/images", json=body).json()["id"]
    answer = client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTETS)
    assert answer.status_code == 204, answer.text
    return image_id


def test_upload_through_one_download_through_the_other(cluster: Cluster) -> None:
    a, b = cluster.servers
    data = os.urandom(3 * 1024 * 1024 + 17)
    with cluster.client(a) as first, cluster.client(b) as second:
        image_id = _upload(first, data, name="across")
        for _ in range(2):  # a miss that fills b's cache, then a hit from it
            assert second.get(f"/v2/images/{image_id}/file").content == data
        assert (
            second.get(f"/v2/images/{image_id}").json()["checksum"] == hashlib.md5(data).hexdigest()
        )
        assert second.delete(f"/v2/images/{image_id}").status_code == 204
        assert first.get(f"/v2/images/{image_id}").status_code == 404
        assert first.get(f"/v2/images/{image_id}/file").status_code == 404
    assert not (cluster.store / image_id).exists()
    if cluster.registry is not None:  # the metadata went through it, under the request's id
        calls = [line for line in _lines(cluster.registry.log) if "/rpc/images.add " in line]
        assert calls and "[req-" in calls[-1], calls


def test_listings_agree(cluster: Cluster) -> None:
    a, b = cluster.servers
    with cluster.client(a) as first, cluster.client(b) as second:
        for index in range(5):
            (first if index % 2 else second).post("/v2/images", json={"name": f"list-{index}"})

        def ids(client: httpx.Client) -> list[str]:
            return [i["id"] for i in client.get("/v2/images?limit=1000").json()["images"]]

        assert ids(first) == ids(second)
        assert len(ids(first)) >= 5


def test_a_member_change_on_one_is_seen_on_the_other_at_once(cluster: Cluster) -> None:
    a, b = cluster.servers
    with cluster.client(a) as first, cluster.client(b) as second:
        image_id = first.post("/v2/images", json={"name": "shared", "visibility": "shared"}).json()[
            "id"
        ]
        assert (
            first.post(f"/v2/images/{image_id}/members", json={"member": "p2"}).status_code == 200
        )
        assert second.get(f"/v2/images/{image_id}/members/p2").json()["status"] == "pending"
        changed = second.put(f"/v2/images/{image_id}/members/p2", json={"status": "accepted"})
        assert changed.status_code == 200
        assert first.get(f"/v2/images/{image_id}/members/p2").json()["status"] == "accepted"
        tag = first.patch(
            f"/v2/images/{image_id}",
            json=[{"op": "add", "path": "/k", "value": "v"}],
            headers=PATCH,
        )
        assert tag.status_code == 200
        assert second.get(f"/v2/images/{image_id}").json()["k"] == "v"


def test_killing_a_server_during_load_loses_no_image(cluster: Cluster) -> None:
    """Clients that retry (connection errors, 502/503, an upload's 409 until the dead
    server's upload is recovered) see every image whole; afterwards nothing is left in
    ``saving`` and every active image's data matches its checksum on both servers."""
    a, b = cluster.servers
    result: list[LoadReport] = []

    def load() -> None:
        run = run_load(
            cluster.balancer, clients=10, duration=12, sizes=(1024, 256 * 1024), retry_for=40
        )
        result.append(asyncio.run(run))

    driver = threading.Thread(target=load)
    driver.start()
    time.sleep(4)
    assert b.process is not None
    b.process.send_signal(signal.SIGKILL)
    b.process.wait()
    driver.join(120)
    report = result[0]
    assert not report.errors, report.errors[:5]
    assert not report.mismatches, report.mismatches[:5]
    assert report.operations["download"] > 20

    b.start()
    with cluster.client(a) as first, cluster.client(b) as second:
        deadline = time.monotonic() + 10 * LEASE
        while time.monotonic() < deadline:
            listed = first.get("/v2/images?limit=1000").json()["images"]
            if not [i for i in listed if i["status"] == "saving"]:
                break
            time.sleep(0.5)
        assert not [i["id"] for i in listed if i["status"] == "saving"]
        active = [i for i in listed if i["status"] == "active"]
        assert active
        for image in active:
            for client in (first, second):
                body = client.get(f"/v2/images/{image['id']}/file").content
                assert hashlib.md5(body).hexdigest() == image["checksum"], image["id"]
