"""One request id end to end: the API server's lines, the registry's, the notification.

A real API server in front of a real ``spyglass registry`` (``tests.backends``' registry
configurations), identity from trusted headers so that the caller's
``x-openstack-request-id`` is kept. The registry publishes the events its writes record
(its outbox), to the machine's RabbitMQ, where an oslo.messaging listener reads the id as
the message context's ``request_id``. A v1 copy-from and a web-download import (run by
the task worker) show the id staying with work done after the answer went out.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.http_origin import HttpOrigin
from tests.integration.notifications.harness import (
    OsloListener,
    Received,
    listening,
)
from tests.server import LiveServer

CALLER = {
    "X-Identity-Status": "Confirmed",
    "X-Roles": "admin,member",
    "X-Project-Id": "p-trace",
    "X-User-Id": "u-trace",
}
DATA = b"traced bytes " * 40_000

# servers started here run through a registry (``tests.backends``): HTTP on SQLite, HTTPS on
# PostgreSQL
pytestmark = pytest.mark.parametrize(
    "metadata_backend", ["sqlite-registry", "postgresql-registry"], indirect=True
)


@pytest.fixture
def server(
    metadata_backend: str, main_broker: int, topic: str, tmp_path: Path
) -> Iterator[LiveServer]:
    notifications = [
        "[oslo_messaging_notifications]",
        "driver = messagingv2",
        f"transport_url = rabbit://guest:guest@127.0.0.1:{main_broker}/",
        f"topics = {topic}",
    ]
    server = LiveServer(
        tmp_path / "api",
        [
            "enabled_import_methods = web-download",
            f"node_staging_uri = file://{tmp_path / 'staging'}",
            *notifications,
            "[paste_deploy]",
            "flavor = trusted-auth",
            "[import_filtering_opts]",
            "allowed_ports =",
            "allowed_networks = 127.0.0.0/8",
        ],
    )
    server.registry_lines = notifications
    try:
        yield server.start()
    finally:
        server.stop()


def _lines_with(path: Path, request_id: str, wanted: str, timeout: float = 15.0) -> list[str]:
    """The lines of ``path`` written for ``request_id``, once one of them contains ``wanted``."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in path.read_text().splitlines() if f"[{request_id}]" in line]
        if any(wanted in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def _events_of(listener: OsloListener, image_id: str, last: str) -> list[Received]:
    got: list[Received] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and last not in [m.event_type for m in got]:
        got += [
            message
            for message in listener.collect(1, timeout=1)
            if isinstance(message.payload, dict) and message.payload.get("id") == image_id
        ]
    return got


@contextlib.contextmanager
def _listening_client(
    server: LiveServer, port: int, topic: str
) -> Iterator[tuple[OsloListener, httpx.Client]]:
    with (
        listening(port, topic) as listener,
        httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http,
    ):
        yield listener, http


def test_one_id_in_the_api_server_the_registry_and_the_notification(
    server: LiveServer, main_broker: int, topic: str
) -> None:
    request_id = f"req-{uuid.uuid4()}"
    with _listening_client(server, main_broker, topic) as (listener, http):
        created = http.post(
            "/v2/images",
            json={"name": "traced", "disk_format": "raw", "container_format": "bare"},
            headers={**CALLER, "X-Openstack-Request-Id": request_id},
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-openstack-request-id"] == request_id
        events = _events_of(listener, created.json()["id"], "image.create")

    assert server.registry is not None
    api = _lines_with(server.log, request_id, '"POST /v2/images HTTP/1.1" status: 201')
    assert [line for line in api if " spyglass.access " in line], api
    registry = _lines_with(server.registry.log, request_id, '"POST /rpc/images.add HTTP/1.1"')
    assert [line for line in registry if "status: 200" in line], registry
    assert [(m.event_type, m.context.get("request_id")) for m in events] == [
        ("image.create", request_id)
    ]
    # the registry answers with the id it was given
    registry_tls = server.registry.provisioner.tls_files().client_context(certificate=False)
    answer = httpx.get(
        f"{server.registry.url}/healthcheck",
        headers={"X-Openstack-Request-Id": request_id},
        verify=registry_tls if server.registry.url.startswith("https") else True,
        trust_env=False,
    )
    assert answer.headers["x-openstack-request-id"] == request_id


def test_work_after_the_answer_keeps_the_requests_id(
    server: LiveServer, main_broker: int, topic: str, origin: HttpOrigin
) -> None:
    """A v1 copy-from copies after the 201: its registry calls and its events still carry
    the id of the request that asked for it."""
    request_id = f"req-{uuid.uuid4()}"
    with _listening_client(server, main_broker, topic) as (listener, http):
        created = http.post(
            "/v1/images",
            headers={
                **CALLER,
                "X-Openstack-Request-Id": request_id,
                "x-image-meta-name": "copied",
                "x-image-meta-disk-format": "raw",
                "x-image-meta-container-format": "bare",
                "x-glance-api-copy-from": origin.put("/traced.raw", DATA),
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["image"]["status"] == "queued"
        events = _events_of(listener, created.json()["image"]["id"], "image.activate")

    assert server.registry is not None
    assert "image.activate" in [m.event_type for m in events]
    assert {m.context.get("request_id") for m in events} == {request_id}
    registry = _lines_with(server.registry.log, request_id, '"POST /rpc/leases.release HTTP/1.1"')
    saves = [
        line for line in registry if '"POST /rpc/images.save_data HTTP/1.1" status: 200' in line
    ]
    assert len(saves) == 2, registry  # saving, then active: both after the answer
    assert [line for line in registry if "/rpc/leases.hold" in line], registry


def test_an_import_task_runs_under_the_id_of_the_request_that_asked_for_it(
    server: LiveServer, main_broker: int, topic: str, origin: HttpOrigin
) -> None:
    """The task worker claims the task from the registry's queue and runs it under the id
    recorded with it: its registry calls and the image's events from then on carry it."""
    request_id = f"req-{uuid.uuid4()}"
    with _listening_client(server, main_broker, topic) as (listener, http):
        created = http.post(
            "/v2/images",
            json={"name": "imported", "disk_format": "raw", "container_format": "bare"},
            headers=CALLER,
        )
        image_id = created.json()["id"]
        method = {"name": "web-download", "uri": origin.put("/web.raw", DATA)}
        asked = http.post(
            f"/v2/images/{image_id}/import",
            json={"method": method},
            headers={**CALLER, "X-Openstack-Request-Id": request_id},
        )
        assert asked.status_code == 202, asked.text
        events = _events_of(listener, image_id, "image.activate")

    assert server.registry is not None
    assert events[0].event_type == "image.create"
    later = events[1:]
    assert "image.activate" in [m.event_type for m in later]
    assert {m.context.get("request_id") for m in later} == {request_id}, later
    registry = _lines_with(server.registry.log, request_id, '"POST /rpc/tasks.finish HTTP/1.1"')
    assert [line for line in registry if "/rpc/tasks.finish" in line], registry
