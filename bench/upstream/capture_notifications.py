"""Capture what upstream Glance sends for each event, as a real oslo.messaging listener sees it.

    .venv/bin/python bench/upstream/capture_notifications.py [--output PATH]

Starts upstream Glance 33.0.0 (``bench/upstream/glance.sh``; run its ``install`` first) with
``[oslo_messaging_notifications] driver = messagingv2`` on the machine's RabbitMQ, makes the
changes ``harness.scenario`` makes, and writes every notification received (envelope fields and
payload) to ``tests/integration/notifications/upstream_capture.json``, which
``test_upstream_shapes.py`` compares Spyglass's notifications with, field by field.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from notifications import NotifyingUpstream  # noqa: E402
from tests.integration.notifications.harness import (  # noqa: E402
    MAIN_PORT,
    Received,
    delete_queues,
    listening,
    scenario,
)

CAPTURE = REPO / "tests" / "integration" / "notifications" / "upstream_capture.json"


def as_record(message: Received, ids: dict[str, str]) -> dict[str, Any]:
    payload = message.payload
    about = payload.get("image_id") or payload.get("id") if isinstance(payload, dict) else None
    role = next((name for name, value in ids.items() if value == about), None)
    return {
        "image": role,
        "event_type": message.event_type,
        "priority": message.priority,
        "publisher_id": message.publisher_id,
        "message_id": message.message_id,
        "timestamp": message.timestamp,
        "payload": payload,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=CAPTURE)
    args = parser.parse_args(argv)
    topic = f"capture_{uuid.uuid4().hex[:8]}"
    server = NotifyingUpstream(REPO / ".bench" / "capture", topic)
    with listening(MAIN_PORT, topic) as listener:
        server.start(fresh=True)
        try:
            with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http:
                ids = scenario(http)
            got = listener.collect(100, timeout=15)
        finally:
            server.stop()
    delete_queues(MAIN_PORT, topic)
    records = [as_record(m, ids) for m in got]
    document = {
        "source": "upstream Glance 33.0.0, [oslo_messaging_notifications] driver = messagingv2, "
        "unauthenticated, captured by bench/upstream/capture_notifications.py",
        "notifications": records,
    }
    args.output.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"{len(records)} notifications written to {args.output}")
    for record in records:
        print(f"  {record['image']}: {record['event_type']} ({record['priority']})")


if __name__ == "__main__":
    main()
