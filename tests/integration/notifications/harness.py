"""Real brokers and a real oslo.messaging notification listener, for notification tests.

The machine's RabbitMQ answers on 127.0.0.1:5672 (guest/guest). Tests that stop a
broker use a private one, started on other ports by ``scripts/rabbitmq.sh`` and
stopped by its pid file; the machine's broker is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import subprocess
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "rabbitmq.sh"
MAIN_PORT = int(os.environ.get("SPYGLASS_TEST_RABBITMQ_PORT", "5672"))
PRIVATE_PORT = int(os.environ.get("SPYGLASS_TEST_PRIVATE_RABBITMQ_PORT", "5673"))


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateBroker:
    """A RabbitMQ node of our own (``scripts/rabbitmq.sh``), which tests may stop."""

    def __init__(self, port: int = PRIVATE_PORT) -> None:
        self.port = port
        self.env = {**os.environ, "RABBITMQ_PORT": str(port)}

    def _run(self, command: str) -> None:
        done = subprocess.run([str(SCRIPT), command], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"scripts/rabbitmq.sh {command}: {done.stderr or done.stdout}")

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")
        deadline = time.monotonic() + 10
        while answers(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)


@dataclass(frozen=True)
class Received:
    priority: str
    publisher_id: str
    event_type: str
    payload: Any
    message_id: str
    timestamp: str
    context: dict[str, Any] = field(default_factory=dict)
    """The message's ``_context_*`` fields, as the listener's ``ctxt``."""


def _oslo() -> Any:
    with warnings.catch_warnings():  # oslo.messaging's eventlet backend warns on import
        warnings.simplefilter("ignore")
        import oslo_messaging  # type: ignore[import-untyped]
        from oslo_config import cfg
    return oslo_messaging, cfg


class Endpoint:
    """What the listener calls per priority; keeps everything it is given."""

    def __init__(self, sink: queue.Queue[Received]) -> None:
        self.sink = sink

    def _keep(
        self,
        priority: str,
        ctxt: Any,
        publisher_id: str,
        event_type: str,
        payload: Any,
        metadata: Any,
    ) -> None:
        self.sink.put(
            Received(
                priority,
                publisher_id,
                event_type,
                payload,
                metadata["message_id"],
                metadata["timestamp"],
                dict(ctxt or {}),
            )
        )

    def info(
        self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any
    ) -> None:
        self._keep("INFO", ctxt, publisher_id, event_type, payload, metadata)

    def warn(
        self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any
    ) -> None:
        self._keep("WARN", ctxt, publisher_id, event_type, payload, metadata)

    def error(
        self, ctxt: Any, publisher_id: str, event_type: str, payload: Any, metadata: Any
    ) -> None:
        self._keep("ERROR", ctxt, publisher_id, event_type, payload, metadata)


class OsloListener:
    """``oslo_messaging.get_notification_listener`` on ``exchange``/``topic``, in threads."""

    def __init__(self, port: int, topic: str, exchange: str = "glance") -> None:
        self.port, self.topic, self.exchange = port, topic, exchange
        self.received: queue.Queue[Received] = queue.Queue()
        self._listener: Any = None
        self._transport: Any = None

    def start(self) -> OsloListener:
        oslo_messaging, cfg = _oslo()
        conf = cfg.ConfigOpts()
        conf([], project="spyglass-tests")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._transport = oslo_messaging.get_notification_transport(
                conf, url=f"rabbit://guest:guest@127.0.0.1:{self.port}/"
            )
            target = oslo_messaging.Target(topic=self.topic, exchange=self.exchange)
            self._listener = oslo_messaging.get_notification_listener(
                self._transport, [target], [Endpoint(self.received)], executor="threading"
            )
            self._listener.start()
        return self

    def stop(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self._listener is not None:
                self._listener.stop()
                self._listener.wait()
            if self._transport is not None:
                self._transport.cleanup()

    def collect(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Wait for ``count`` messages (fewer if ``timeout`` passes)."""
        got: list[Received] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                got.append(self.received.get(timeout=min(left, 1.0)))
            except queue.Empty:
                continue
        return got

    def quiet(self, seconds: float) -> list[Received]:
        """Whatever else arrives within ``seconds`` (duplicates, strays)."""
        extra: list[Received] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(queue.Empty):
                extra.append(self.received.get(timeout=left))
        return extra


@contextlib.contextmanager
def listening(port: int, topic: str) -> Iterator[OsloListener]:
    listener = OsloListener(port, topic).start()
    try:
        yield listener
    finally:
        listener.stop()


def unique_topic() -> str:
    return f"spyglass_test_{uuid.uuid4().hex[:10]}"


def delete_queues(port: int, topic: str) -> None:
    """Remove the queues a test's topic left on a broker."""

    async def work() -> None:
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=5)
        async with connection:
            channel = await connection.channel()
            for priority in ("info", "error", "warn"):
                with contextlib.suppress(Exception):
                    await channel.queue_delete(f"{topic}.{priority}")
                    channel = await connection.channel()

    with contextlib.suppress(Exception):
        asyncio.run(work())


JSON_PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
DATA = b"x" * 4096


def scenario(http: httpx.Client) -> dict[str, str]:
    """The changes both servers are put through; returns the ids it made, by role."""
    image = http.post(
        "/v2/images",
        json={"name": "n1", "disk_format": "raw", "container_format": "bare", "k": "v"},
    )
    image.raise_for_status()
    iid = image.json()["id"]
    put = http.put(
        f"/v2/images/{iid}/file", content=DATA, headers={"Content-Type": "application/octet-stream"}
    )
    put.raise_for_status()
    patch = [{"op": "replace", "path": "/name", "value": "n2"}]
    http.patch(f"/v2/images/{iid}", json=patch, headers=JSON_PATCH).raise_for_status()
    http.put(f"/v2/images/{iid}/tags/t1").raise_for_status()
    assert http.get(f"/v2/images/{iid}/file").content == DATA
    shared = http.post("/v2/images", json={"name": "s", "visibility": "shared"})
    shared.raise_for_status()
    sid = shared.json()["id"]
    http.post(f"/v2/images/{sid}/members", json={"member": "p2"}).raise_for_status()
    http.put(f"/v2/images/{sid}/members/p2", json={"status": "accepted"}).raise_for_status()
    http.delete(f"/v2/images/{sid}/members/p2").raise_for_status()
    http.delete(f"/v2/images/{iid}").raise_for_status()
    return {"image": iid, "shared": sid}
