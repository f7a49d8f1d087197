"""Two API servers on one database: data staged on one is imported through the
other (the request is proxied to the server holding it, as upstream does), and
without ``worker_self_reference_url`` the import fails clearly. Deleting a staged
image removes its staged data."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import OCTET, create
from tests.functional.test_import import DATA, wait_for
from tests.server import LiveServer, free_port

pytestmark = pytest.mark.backends("sqlite")  # the nodes share one explicit SQLite file


def node(tmp_path: Path, name: str, database: Path, port: int | None) -> list[str]:
    lines = [f"node_staging_uri = file://{tmp_path}/{name}-staging"]
    if port is not None:
        lines.append(f"worker_self_reference_url = http://127.0.0.1:{port}")
    return [*lines, "[database]", f"connection = sqlite:///{database}"]


def start_on(server: LiveServer, port: int) -> LiveServer:
    server.port = port
    server.url = f"http://127.0.0.1:{port}"
    return server.start()


def test_import_reaches_the_node_holding_the_staged_data(tmp_path: Path) -> None:
    database = tmp_path / "shared.sqlite"
    ports = free_port(), free_port()
    a = start_on(LiveServer(tmp_path / "a", node(tmp_path, "a", database, ports[0])), ports[0])
    b = LiveServer(tmp_path / "b", node(tmp_path, "b", database, ports[1]))
    try:
        start_on(b, ports[1])
        with (
            httpx.Client(base_url=a.url, timeout=30, trust_env=False) as on_a,
            httpx.Client(base_url=b.url, timeout=30, trust_env=False) as on_b,
        ):
            image_id = create(on_a, name="n", disk_format="raw", container_format="bare")["id"]
            assert on_a.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTET).is_success
            answer = on_b.post(
                f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}}
            )
            assert answer.status_code == 202, answer.text
            image = wait_for(on_a, image_id, "active", "queued")
            assert image["status"] == "active"
            assert on_a.get(f"/v2/images/{image_id}/file").content == DATA
        assert list((tmp_path / "a-staging").iterdir()) == []
    finally:
        a.stop()
        b.stop()


def test_without_self_reference_the_import_fails_clearly(
    tmp_path: Path, server_factory: Callable[..., LiveServer]
) -> None:
    database = tmp_path / "shared.sqlite"
    a = server_factory(*node(tmp_path, "a", database, None))
    b = server_factory(*node(tmp_path, "b", database, None))
    with (
        httpx.Client(base_url=a.url, timeout=30, trust_env=False) as on_a,
        httpx.Client(base_url=b.url, timeout=30, trust_env=False) as on_b,
    ):
        image_id = create(on_a, name="n", disk_format="raw", container_format="bare")["id"]
        assert on_a.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTET).is_success
        answer = on_b.post(
            f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}}
        )
        assert answer.status_code == 409
        assert "worker_self_reference_url" in answer.text
        assert on_a.get(f"/v2/images/{image_id}").json()["status"] == "uploading"
        assert on_a.delete(f"/v2/images/{image_id}").status_code == 204
    assert list((tmp_path / "a-staging").iterdir()) == []


def test_a_node_never_recovers_another_nodes_live_stage(
    tmp_path: Path, server_factory: Callable[..., LiveServer]
) -> None:
    """Nodes sharing ``public_endpoint`` (a balancer's URL) but no
    ``worker_self_reference_url`` cannot tell their stages apart: none of them may
    put a stage that is still being written on another node back to ``queued``."""
    database = tmp_path / "shared.sqlite"

    def behind_a_balancer(name: str) -> list[str]:
        lines = node(tmp_path, name, database, None)
        lines.insert(1, "public_endpoint = http://images.example:9292")
        return [*lines, "[task]", "lease_seconds = 1"]

    a = server_factory(*behind_a_balancer("a"))
    server_factory(*behind_a_balancer("b"))
    with httpx.Client(base_url=a.url, timeout=30, trust_env=False) as on_a:
        image_id = create(on_a, name="n", disk_format="raw", container_format="bare")["id"]

        def slow_body() -> Iterator[bytes]:
            yield DATA[:65536]
            time.sleep(1.5)  # the other node looks for dead stages meanwhile
            yield DATA[65536:]

        staged = on_a.put(f"/v2/images/{image_id}/stage", content=slow_body(), headers=OCTET)
        assert staged.status_code == 204, staged.text
        image = on_a.get(f"/v2/images/{image_id}").json()
        assert (image["status"], image["size"]) == ("uploading", len(DATA))


def test_an_image_deleted_on_another_node_loses_its_staged_data(tmp_path: Path) -> None:
    database = tmp_path / "shared.sqlite"
    ports = free_port(), free_port()
    quick = ["[task]", "lease_seconds = 1"]
    a = LiveServer(tmp_path / "a", [*node(tmp_path, "a", database, ports[0]), *quick])
    b = LiveServer(tmp_path / "b", [*node(tmp_path, "b", database, ports[1]), *quick])
    start_on(a, ports[0])
    try:
        start_on(b, ports[1])
        with httpx.Client(timeout=30, trust_env=False) as http:
            body = {"name": "n", "disk_format": "raw", "container_format": "bare"}
            image_id = http.post(f"{a.url}/v2/images", json=body).json()["id"]
            staged = http.put(f"{a.url}/v2/images/{image_id}/stage", content=DATA, headers=OCTET)
            assert staged.status_code == 204
            assert (tmp_path / "a-staging" / image_id).is_file()
            assert http.delete(f"{b.url}/v2/images/{image_id}").status_code == 204  # not on a
        deadline = time.monotonic() + 15
        while (tmp_path / "a-staging" / image_id).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list((tmp_path / "a-staging").iterdir()) == []
    finally:
        a.stop()
        b.stop()
