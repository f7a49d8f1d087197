"""The same events through the AMQP 1.0 driver (classic ``qpid``) to a real AMQP 1.0
receiver (python-qpid-proton), on the private RabbitMQ with its ``rabbitmq_amqp1_0`` plugin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aio_pika
import httpx
from proton.utils import BlockingConnection

from tests.integration.notifications.harness import PrivateBroker, unique_topic
from tests.integration.notifications.test_oslo_listener import IMAGE_FIELDS, IMPORT_LISTS
from tests.server import LiveServer


def _declare_exchange(port: int) -> None:
    """The broker-side topology an operator sets up: the ``glance`` topic exchange."""

    async def work() -> None:
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=5)
        async with connection:
            channel = await connection.channel()
            await channel.declare_exchange("glance", aio_pika.ExchangeType.TOPIC)

    asyncio.run(work())


def test_events_reach_an_amqp_1_0_receiver(
    server_factory: Callable[..., LiveServer], private_broker: PrivateBroker
) -> None:
    port, topic = private_broker.port, unique_topic()
    _declare_exchange(port)
    receiving = BlockingConnection(
        f"amqp://127.0.0.1:{port}",
        timeout=10,
        user="guest",
        password="guest",
        allowed_mechs="PLAIN",
        allow_insecure_mechs=True,
    )
    try:
        receiver = receiving.create_receiver(f"/exchange/glance/{topic}.info", credit=100)
        server = server_factory(
            "notifier_strategy = qpid",
            "qpid_hostname = 127.0.0.1",
            f"qpid_port = {port}",
            "qpid_username = guest",
            "qpid_password = guest",
            f"qpid_notification_topic = {topic}",
            "qpid_heartbeat = 10",
        )
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
            body = {"name": "q", "disk_format": "raw", "container_format": "bare"}
            iid = http.post("/v2/images", json=body).json()["id"]
            put = http.put(
                f"/v2/images/{iid}/file",
                content=b"y" * 100,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert put.status_code == 204
            assert http.get(f"/v2/images/{iid}/file").status_code == 200
            assert http.delete(f"/v2/images/{iid}").status_code == 204
        received: list[dict[str, Any]] = []
        subjects = []
        for _ in range(8):
            incoming = receiver.receive(timeout=20)
            receiver.accept()
            subjects.append(incoming.subject)
            envelope = json.loads(bytes(incoming.body))  # type: ignore[arg-type]
            assert envelope["oslo.version"] == "2.0"
            received.append(json.loads(envelope["oslo.message"]))
    finally:
        receiving.close()
    assert [m["event_type"] for m in received] == [
        "image.create", "image.update", "image.prepare", "image.upload", "image.activate",
        "image.update", "image.send", "image.delete",
    ]  # fmt: skip
    assert set(subjects) == {f"{topic}.info"}
    assert len({m["message_id"] for m in received}) == 8
    for message in received:
        assert message["publisher_id"] == "image.localhost" and message["priority"] == "INFO"
        if message["event_type"] in ("image.prepare", "image.upload"):
            assert set(message["payload"]) == IMAGE_FIELDS | IMPORT_LISTS
        elif message["event_type"] != "image.send":
            assert set(message["payload"]) == IMAGE_FIELDS
    assert received[-2]["payload"]["bytes_sent"] == 100
