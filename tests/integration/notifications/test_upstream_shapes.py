"""Spyglass's notifications next to upstream Glance's, field by field.

``upstream_capture.json`` holds what upstream Glance 33.0.0 sent (messagingv2, received
by an oslo.messaging listener) for ``harness.scenario``; it is rewritten by
``bench/upstream/capture_notifications.py``. Here the same scenario runs against
Spyglass and every notification must match upstream's: the same events in the same
order, the same envelope and payload keys, the same JSON types, and the same values
wherever they do not depend on ids or the clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.integration.notifications.harness import (
    Received,
    listening,
    scenario,
)
from tests.server import LiveServer

CAPTURE = Path(__file__).with_name("upstream_capture.json")
VARYING = {"id", "image_id", "created_at", "updated_at", "deleted_at", "message_id", "timestamp"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
OSLO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
ONLY_UPSTREAM = {"image.prepare": {"backend"}}
"""Upstream adds the store's name to image.prepare when stores are configured with
``enabled_backends``; its capture ran so, Spyglass's test server has one classic store."""


def _upstream() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(CAPTURE.read_text())["notifications"]
    return records


def _ours(
    server_factory: Callable[..., LiveServer], port: int, topic: str, count: int
) -> list[dict[str, Any]]:
    server = server_factory(
        "notifier_strategy = rabbit",
        "rabbit_host = 127.0.0.1",
        f"rabbit_port = {port}",
        f"rabbit_notification_topic = {topic}",
    )
    with listening(port, topic) as listener:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
            ids = scenario(http)
        got = listener.collect(count, timeout=30) + listener.quiet(1.0)
    return [_record(m, ids) for m in got]


def _record(message: Received, ids: dict[str, str]) -> dict[str, Any]:
    payload = message.payload
    about = payload.get("image_id") or payload.get("id") if isinstance(payload, dict) else None
    return {
        "image": next((name for name, value in ids.items() if value == about), None),
        "event_type": message.event_type,
        "priority": message.priority,
        "publisher_id": message.publisher_id,
        "message_id": message.message_id,
        "timestamp": message.timestamp,
        "payload": payload,
    }


def _same_shape(ours: Any, theirs: Any, where: str) -> None:
    assert type(ours) is type(theirs), f"{where}: {ours!r} vs upstream's {theirs!r}"


def test_every_notification_matches_upstreams(
    server_factory: Callable[..., LiveServer], main_broker: int, topic: str
) -> None:
    theirs = _upstream()
    ours = _ours(server_factory, main_broker, topic, len(theirs))
    assert [(r["image"], r["event_type"], r["priority"]) for r in ours] == [
        (r["image"], r["event_type"], r["priority"]) for r in theirs
    ]
    for mine, upstream in zip(ours, theirs, strict=True):
        name = mine["event_type"]
        assert mine["publisher_id"] == upstream["publisher_id"] == "image.localhost"
        assert OSLO_TIME.match(mine["timestamp"]) and OSLO_TIME.match(upstream["timestamp"])
        ours_payload, their_payload = mine["payload"], upstream["payload"]
        assert set(ours_payload) == set(their_payload) - ONLY_UPSTREAM.get(name, set()), name
        for key, value in ours_payload.items():
            where = f"{name}.{key}"
            expected = their_payload[key]
            if key in VARYING:
                if expected is None:
                    assert value is None, where
                elif key.endswith("_at"):
                    assert ISO.match(value) and ISO.match(expected), where
                else:
                    _same_shape(value, expected, where)
                continue
            assert value == expected, where
