"""The oslo.messaging message format, so any oslo.messaging listener reads our events.

``messagingv2`` wraps the message as ``{"oslo.version": "2.0", "oslo.message":
"<JSON>"}``; the older ``messaging`` driver sends the message itself. Routing
keys are ``<topic>.<priority in lower case>``, as oslo.messaging's notifier
builds them.

oslo.messaging's AMQP drivers flatten the caller's context into the message as
``_context_<key>`` fields, and listeners get them back as their ``ctxt``. Of upstream
Glance's context only ``request_id`` is sent: it ties the event to the request's log
lines, and the rest (user, project, roles, the token itself) is either in the
payload already or not for every listener to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from spyglass.notify.events import Event, oslo_timestamp

OSLO_VERSION = "2.0"


@dataclass(frozen=True, slots=True)
class Message:
    """An event ready to publish: who sent it, and its place in the outbox."""

    event: Event
    publisher_id: str
    outbox_id: int = 0
    request_id: str | None = None
    """The request that caused the event (``None``: no request, the scrubber say)."""


def message_dict(message: Message) -> dict[str, Any]:
    event = message.event
    return {
        "message_id": event.message_id,
        "publisher_id": message.publisher_id,
        "event_type": event.event_type,
        "priority": event.priority,
        "payload": event.payload,
        "timestamp": oslo_timestamp(event.timestamp),
        # oslo.messaging's AMQP drivers add these; listeners tolerate them either way
        "_unique_id": event.message_id.replace("-", ""),
        "_context_request_id": message.request_id,
    }


def encode(message: Message, *, envelope: bool = True) -> bytes:
    """The message body on the wire (JSON, UTF-8)."""
    body = message_dict(message)
    if envelope:
        wrapped = {"oslo.version": OSLO_VERSION, "oslo.message": json.dumps(body)}
        return json.dumps(wrapped).encode()
    return json.dumps(body).encode()


def routing_key(topic: str, priority: str) -> str:
    return f"{topic}.{priority.lower()}"
