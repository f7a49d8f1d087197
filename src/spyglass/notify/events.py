"""Notification events and their payloads, shaped as upstream Glance sends them.

Pure: no I/O. Consumers (telemetry, search indexers, billing) read these
payloads field by field, so names, types and time formats follow upstream's
``format_image_notification``, ``format_image_member_notification`` and
``format_task_notification``. Locations never appear: they may hold credentials.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spyglass.domain.image import Image, ImageStatus, Visibility
from spyglass.domain.members import ImageMember
from spyglass.timeutils import utcnow

IMAGE_EVENTS = frozenset(
    {
        "image.create",
        "image.prepare",
        "image.upload",
        "image.activate",
        "image.update",
        "image.delete",
        "image.send",
    }
)
MEMBER_EVENTS = frozenset({"image.member.create", "image.member.update", "image.member.delete"})
TASK_EVENTS = frozenset(
    {"task.create", "task.run", "task.processing", "task.success", "task.failure", "task.delete"}
)
_IMPORT_LISTS = ("os_glance_importing_to_stores", "os_glance_failed_import")


@dataclass(frozen=True, slots=True)
class Event:
    """One notification, as recorded in the outbox and later published.

    ``message_id`` is chosen once, when the change is recorded, so every
    delivery attempt of the event carries the same id (consumers deduplicate
    on it). ``key`` orders delivery: events with one key arrive in order.
    """

    event_type: str
    payload: dict[str, Any] | str
    key: str
    priority: str = "INFO"
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: datetime = field(default_factory=utcnow)


def isotime(instant: datetime | None) -> str | None:
    """Upstream's ``timeutils.isotime``: seconds precision, ``Z`` for UTC."""
    return None if instant is None else instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def oslo_timestamp(instant: datetime) -> str:
    """The envelope's ``timestamp``: ``str()`` of a naive UTC datetime, as oslo.messaging."""
    return str(instant)


def image_payload(image: Image) -> dict[str, Any]:
    """``format_image_notification``: the image without its locations."""
    return {
        "id": image.id,
        "name": image.name,
        "status": image.status.value,
        "created_at": isotime(image.created_at),
        "updated_at": isotime(image.updated_at),
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "protected": image.protected,
        "checksum": image.checksum,
        "owner": image.owner,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "is_public": image.visibility is Visibility.PUBLIC,
        "visibility": image.visibility.value,
        "properties": dict(image.properties),
        "tags": sorted(image.tags),
        "deleted": False,
        "deleted_at": None,
    }


def _import_lists(image: Image) -> dict[str, list[str]]:
    """The import progress lists ``image.prepare`` and ``image.upload`` carry."""
    lists: dict[str, list[str]] = {}
    for name in _IMPORT_LISTS:
        raw = image.properties.get(name)
        lists[name] = raw.split(",") if raw else []
    return lists


def image_event(event_type: str, image: Image) -> Event:
    """The event ``event_type`` describing ``image`` as it is now being saved."""
    if event_type not in IMAGE_EVENTS or event_type == "image.send":
        raise ValueError(f"not an image state event: {event_type}")
    payload = image_payload(image)
    if event_type in ("image.prepare", "image.upload"):
        payload.update(_import_lists(image))
    if event_type == "image.delete":
        payload["deleted"] = True
        payload["deleted_at"] = isotime(image.deleted_at or utcnow())
        if image.status not in (ImageStatus.DELETED, ImageStatus.PENDING_DELETE):
            payload["status"] = ImageStatus.DELETED.value
    return Event(event_type, payload, key=image.id)


def upload_failed(image: Image, message: str) -> Event:
    """``image.upload`` at ERROR: upstream's payload is the error text alone."""
    return Event("image.upload", message, key=image.id, priority="ERROR")


def member_event(event_type: str, member: ImageMember) -> Event:
    """``format_image_member_notification`` (+ deletion fields for ``.delete``)."""
    if event_type not in MEMBER_EVENTS:
        raise ValueError(f"not a member event: {event_type}")
    payload: dict[str, Any] = {
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status.value,
        "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at),
        "deleted": False,
        "deleted_at": None,
    }
    if event_type == "image.member.delete":
        payload["deleted"] = True
        payload["deleted_at"] = isotime(utcnow())
    return Event(event_type, payload, key=member.image_id)


def send_event(
    image: Image,
    *,
    bytes_sent: int,
    expected: int | None,
    receiver_project: str | None,
    receiver_user: str | None,
) -> Event:
    """``image.send`` after a download: ERROR when fewer bytes went out than expected."""
    payload = {
        "bytes_sent": bytes_sent,
        "image_id": image.id,
        "owner_id": image.owner,
        "receiver_tenant_id": receiver_project,
        "receiver_user_id": receiver_user,
    }
    priority = "INFO" if expected is None or bytes_sent == expected else "ERROR"
    return Event("image.send", payload, key=image.id, priority=priority)


def task_payload(
    *,
    task_id: str,
    task_type: str,
    status: str,
    owner: str | None,
    expires_at: datetime | None,
    created_at: datetime,
    updated_at: datetime | None,
) -> dict[str, Any]:
    """``format_task_notification``: the task's input and result are left out (secrets)."""
    return {
        "id": task_id,
        "type": task_type,
        "status": status,
        "result": None,
        "owner": owner,
        "message": None,
        "expires_at": isotime(expires_at),
        "created_at": isotime(created_at),
        "updated_at": isotime(updated_at),
        "deleted": False,
        "deleted_at": None,
    }


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Upstream's ``disabled_notifications``: event types or group prefixes not sent.

    A group is the part before the first dot (``image``, ``task``), as upstream
    matches it; ``image.member`` is also accepted as a group of its own.
    """

    disabled: Collection[str] = ()

    def enabled(self, event_type: str) -> bool:
        if not self.disabled:
            return True
        names = {event_type, event_type.split(".", 1)[0]}
        if event_type.startswith("image.member."):
            names.add("image.member")
        return not any(name in self.disabled for name in names)

    def keep(self, events: Sequence[Event]) -> list[Event]:
        return [e for e in events if self.enabled(e.event_type)]
