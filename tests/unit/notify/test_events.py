"""Payloads and envelopes, field by field as upstream Glance and oslo.messaging send them."""

from __future__ import annotations

import json
import re
from datetime import datetime

from spyglass.domain.image import Image, ImageStatus, Location, Visibility
from spyglass.domain.members import ImageMember, MemberStatus
from spyglass.notify.envelope import Message, encode, routing_key
from spyglass.notify.events import (
    EventFilter,
    image_event,
    member_event,
    send_event,
    task_payload,
    upload_failed,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901)
IMAGE_FIELDS = {
    "id", "name", "status", "created_at", "updated_at", "min_disk", "min_ram", "protected",
    "checksum", "owner", "disk_format", "container_format", "size", "virtual_size",
    "is_public", "visibility", "properties", "tags", "deleted", "deleted_at",
}  # fmt: skip


def _image() -> Image:
    return Image(
        id="i1", created_at=NOW, updated_at=NOW, name="n", owner="p1",
        visibility=Visibility.PUBLIC, tags={"b", "a"}, properties={"k": "v"},
        locations=[Location("file:///secret/i1", {"store": "file"})],
    )  # fmt: skip


def test_image_payload_has_upstreams_fields_and_no_locations() -> None:
    event = image_event("image.create", _image())
    assert isinstance(event.payload, dict)
    assert set(event.payload) == IMAGE_FIELDS
    assert event.payload["created_at"] == "2026-01-02T03:04:05Z"
    assert event.payload["is_public"] is True
    assert event.payload["tags"] == ["a", "b"]
    assert "secret" not in json.dumps(event.payload)
    assert (event.key, event.priority) == ("i1", "INFO")


def test_prepare_and_upload_carry_the_import_lists() -> None:
    image = _image()
    image.properties["os_glance_importing_to_stores"] = "a,b"
    for name in ("image.prepare", "image.upload"):
        payload = image_event(name, image).payload
        assert isinstance(payload, dict)
        assert payload["os_glance_importing_to_stores"] == ["a", "b"]
        assert payload["os_glance_failed_import"] == []
    assert "os_glance_failed_import" not in image_event("image.update", image).payload


def test_delete_is_marked_deleted() -> None:
    image = _image()
    image.status, image.deleted_at = ImageStatus.DELETED, NOW
    payload = image_event("image.delete", image).payload
    assert isinstance(payload, dict)
    assert (payload["deleted"], payload["deleted_at"], payload["status"]) == (
        True,
        "2026-01-02T03:04:05Z",
        "deleted",
    )


def test_member_send_task_and_error_payloads() -> None:
    member = ImageMember("i1", "p2", MemberStatus.ACCEPTED, NOW, NOW)
    assert member_event("image.member.update", member).payload == {
        "image_id": "i1", "member_id": "p2", "status": "accepted",
        "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z",
        "deleted": False, "deleted_at": None,
    }  # fmt: skip
    full = send_event(_image(), bytes_sent=5, expected=5, receiver_project="p2", receiver_user="u")
    assert full.payload == {
        "bytes_sent": 5, "image_id": "i1", "owner_id": "p1",
        "receiver_tenant_id": "p2", "receiver_user_id": "u",
    }  # fmt: skip
    short = send_event(
        _image(), bytes_sent=4, expected=5, receiver_project=None, receiver_user=None
    )
    assert short.priority == "ERROR"
    failed = upload_failed(_image(), "boom")
    assert (failed.payload, failed.priority) == ("boom", "ERROR")
    task = task_payload(
        task_id="t", task_type="import", status="pending", owner="p1",
        expires_at=None, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    assert "input" not in task and task["result"] is None and task["expires_at"] is None


def test_disabled_notifications_by_type_and_group() -> None:
    assert EventFilter(("image.update",)).enabled("image.create")
    assert not EventFilter(("image.update",)).enabled("image.update")
    assert not EventFilter(("image",)).enabled("image.member.create")
    assert not EventFilter(("image.member",)).enabled("image.member.delete")
    assert EventFilter(("image.member",)).enabled("image.create")
    assert not EventFilter(("task",)).enabled("task.success")


def test_the_v2_envelope() -> None:
    event = image_event("image.update", _image())
    body = json.loads(encode(Message(event, "image.host1")))
    assert body["oslo.version"] == "2.0"
    message = json.loads(body["oslo.message"])
    assert message["message_id"] == event.message_id
    assert message["publisher_id"] == "image.host1"
    assert message["event_type"] == "image.update"
    assert message["priority"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?", message["timestamp"])
    assert message["payload"] == event.payload
    assert message["_context_request_id"] is None  # no request: the key is there, empty
    traced = json.loads(json.loads(encode(Message(event, "p", request_id="req-1")))["oslo.message"])
    assert traced["_context_request_id"] == "req-1"
    bare = json.loads(encode(Message(event, "image.host1"), envelope=False))
    assert bare["event_type"] == "image.update"
    assert routing_key("glance_notifications", "INFO") == "glance_notifications.info"
