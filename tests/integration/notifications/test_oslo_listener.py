"""Every event a real oslo.messaging notification listener receives from a live server,
over the machine's RabbitMQ, with upstream's payload shapes field by field."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.integration.notifications.harness import (
    OsloListener,
    Received,
    listening,
)
from tests.server import LiveServer

IMAGE_FIELDS = {
    "id", "name", "status", "created_at", "updated_at", "min_disk", "min_ram", "protected",
    "checksum", "owner", "disk_format", "container_format", "size", "virtual_size",
    "is_public", "visibility", "properties", "tags", "deleted", "deleted_at",
}  # fmt: skip
IMPORT_LISTS = {"os_glance_importing_to_stores", "os_glance_failed_import"}
MEMBER_FIELDS = {
    "image_id", "member_id", "status", "created_at", "updated_at", "deleted", "deleted_at",
}  # fmt: skip
SEND_FIELDS = {"bytes_sent", "image_id", "owner_id", "receiver_tenant_id", "receiver_user_id"}
JSON_PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.fixture
def listener(main_broker: int, topic: str) -> Iterator[OsloListener]:
    with listening(main_broker, topic) as running:
        yield running


def _server(factory: Callable[..., LiveServer], port: int, topic: str) -> LiveServer:
    return factory(
        "notifier_strategy = rabbit",
        "rabbit_host = 127.0.0.1",
        f"rabbit_port = {port}",
        f"rabbit_notification_topic = {topic}",
        "default_publisher_id = image.testhost",
    )


def _by_type(messages: list[Received]) -> dict[str, list[Received]]:
    found: dict[str, list[Received]] = {}
    for message in messages:
        found.setdefault(message.event_type, []).append(message)
    return found


def test_every_image_and_member_event_reaches_an_oslo_listener(
    server_factory: Callable[..., LiveServer], main_broker: int, topic: str, listener: OsloListener
) -> None:
    server = _server(server_factory, main_broker, topic)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        image = http.post(
            "/v2/images",
            json={"name": "n1", "disk_format": "raw", "container_format": "bare", "k": "v"},
        ).json()
        iid = image["id"]
        data = b"x" * 4096
        put = http.put(
            f"/v2/images/{iid}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 204
        patch = [{"op": "replace", "path": "/name", "value": "n2"}]
        assert http.patch(f"/v2/images/{iid}", json=patch, headers=JSON_PATCH).status_code == 200
        assert http.put(f"/v2/images/{iid}/tags/t1").status_code == 204
        assert http.get(f"/v2/images/{iid}/file").content == data
        shared = http.post("/v2/images", json={"name": "s", "visibility": "shared"}).json()
        sid = shared["id"]
        assert http.post(f"/v2/images/{sid}/members", json={"member": "p2"}).status_code == 200
        member = http.put(f"/v2/images/{sid}/members/p2", json={"status": "accepted"})
        assert member.status_code == 200
        assert http.delete(f"/v2/images/{sid}/members/p2").status_code == 204
        assert http.delete(f"/v2/images/{iid}").status_code == 204

    expected = [
        "image.create", "image.update", "image.prepare", "image.upload", "image.activate",
        "image.update", "image.update", "image.update", "image.send", "image.delete",
    ]  # fmt: skip
    member_expected = [
        "image.create", "image.member.create", "image.member.update", "image.member.delete",
    ]  # fmt: skip
    got = listener.collect(len(expected) + len(member_expected), timeout=30)
    assert [m.event_type for m in got if _about(m) == iid] == expected
    assert [m.event_type for m in got if _about(m) == sid] == member_expected
    assert not listener.quiet(1.0)  # and nothing twice
    assert len({m.message_id for m in got}) == len(got)
    assert {m.publisher_id for m in got} == {"image.testhost"}

    events = _by_type([m for m in got if _about(m) == iid])
    for name in ("image.create", "image.update", "image.activate", "image.delete"):
        for message in events[name]:
            assert set(message.payload) == IMAGE_FIELDS, name
            assert message.priority == "INFO"
    for name in ("image.prepare", "image.upload"):
        assert set(events[name][0].payload) == IMAGE_FIELDS | IMPORT_LISTS
    create = events["image.create"][0].payload
    assert (create["status"], create["name"], create["properties"]) == ("queued", "n1", {"k": "v"})
    assert create["is_public"] is False and create["visibility"] == "shared"
    assert create["created_at"].endswith("Z") and create["deleted_at"] is None
    statuses = [m.payload["status"] for m in events["image.update"]]
    assert statuses == ["saving", "active", "active", "active"]
    activate = events["image.activate"][0].payload
    assert activate["size"] == 4096 and activate["checksum"]
    assert events["image.update"][2].payload["name"] == "n2"
    assert events["image.update"][3].payload["tags"] == ["t1"]
    send = events["image.send"][0].payload
    assert set(send) == SEND_FIELDS and send["bytes_sent"] == 4096 and send["image_id"] == iid
    deleted = events["image.delete"][0].payload
    assert deleted["deleted"] is True and deleted["deleted_at"] and deleted["status"] == "deleted"
    for message in got:
        assert "location" not in str(message.payload).lower()

    members = _by_type([m for m in got if _about(m) == sid])
    for name in ("image.member.create", "image.member.update", "image.member.delete"):
        assert set(members[name][0].payload) == MEMBER_FIELDS
    assert members["image.member.update"][0].payload["status"] == "accepted"
    assert members["image.member.delete"][0].payload["deleted"] is True


def _about(message: Received) -> str:
    payload = message.payload
    return str(payload.get("image_id") or payload.get("id"))


def test_disabled_notifications_are_not_sent(
    server_factory: Callable[..., LiveServer], main_broker: int, topic: str, listener: OsloListener
) -> None:
    server = server_factory(
        "notifier_strategy = rabbit",
        f"rabbit_port = {main_broker}",
        f"rabbit_notification_topic = {topic}",
        "disabled_notifications = image.update",
    )
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        iid = http.post("/v2/images", json={"name": "a"}).json()["id"]
        patch = [{"op": "replace", "path": "/name", "value": "b"}]
        http.patch(f"/v2/images/{iid}", json=patch, headers=JSON_PATCH)
        http.delete(f"/v2/images/{iid}")
    got = listener.collect(2, timeout=20) + listener.quiet(1.0)
    assert [m.event_type for m in got] == ["image.create", "image.delete"]


def test_todays_option_names_map_onto_the_same_driver(
    server_factory: Callable[..., LiveServer], main_broker: int, topic: str, listener: OsloListener
) -> None:
    server = server_factory(
        f"transport_url = rabbit://guest:guest@127.0.0.1:{main_broker}/",
        "[oslo_messaging_notifications]",
        "driver = messagingv2",
        f"topics = {topic}",
    )
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        iid = http.post("/v2/images", json={"name": "modern"}).json()["id"]
    (got,) = listener.collect(1, timeout=20)
    assert (got.event_type, got.payload["id"], got.publisher_id) == (
        "image.create",
        iid,
        "image.localhost",
    )
