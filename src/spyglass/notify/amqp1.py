"""``amqp1`` (classic ``qpid``, or ``transport_url = amqp://``): AMQP 1.0 with python-qpid-proton.

The classic qpid notifier sent each event to the topic exchange
``qpid_notification_exchange`` with the subject ``<topic>.<priority>``. Here
each message goes to the target address ``qpid_notification_address`` (by
default ``/exchange/<exchange>/<topic>.<priority>``, the form RabbitMQ's AMQP
1.0 plugin gives an exchange and routing key, the exchange must exist; for
qpidd, ``{exchange}/{routing_key}``) with the same subject, as a JSON data
section (``content_type`` application/json).

proton's blocking API runs in a worker thread, one call at a time, so the
event loop never waits on the socket. ``send`` returns once the broker has
accepted (settled) every message; a rejection or a lost connection is
``NotifierUnavailable`` and the messages are tried again later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.to_thread
from proton import Message as ProtonMessage
from proton import SSLDomain
from proton.utils import BlockingConnection, BlockingSender

from spyglass.notify.base import NotifierUnavailable, NotifyConfig
from spyglass.notify.envelope import Message, encode, routing_key

log = logging.getLogger(__name__)

ADDRESS = "/exchange/{exchange}/{routing_key}"


class Amqp1Notifier:
    def __init__(self, config: NotifyConfig) -> None:
        if not config.brokers:
            raise ValueError("the AMQP 1.0 notifier needs at least one broker")
        self.config = config
        self.address = config.address or ADDRESS
        self.send_timeout = max(config.connect_timeout, 10.0)
        self._connection: BlockingConnection | None = None
        self._senders: dict[str, BlockingSender] = {}
        self._next_broker = 0
        self._thread = anyio.CapacityLimiter(1)

    # -- in the worker thread ------------------------------------------------------------

    def _connect(self) -> None:
        if self._connection is not None:
            return
        errors = []
        for _ in self.config.brokers:
            broker = self.config.brokers[self._next_broker]
            self._next_broker = (self._next_broker + 1) % len(self.config.brokers)
            scheme = "amqps" if broker.ssl else "amqp"
            options: dict[str, Any] = {"allow_insecure_mechs": True}
            if broker.username:
                options |= {"user": broker.username, "password": broker.password or ""}
            if self.config.sasl_mechanisms:
                options["allowed_mechs"] = self.config.sasl_mechanisms
            elif broker.username:
                options["allowed_mechs"] = "PLAIN"
            try:
                self._connection = BlockingConnection(
                    f"{scheme}://{broker.host}:{broker.port}",
                    timeout=self.config.connect_timeout,
                    ssl_domain=SSLDomain(SSLDomain.MODE_CLIENT) if broker.ssl else None,
                    heartbeat=float(self.config.heartbeat) if self.config.heartbeat else None,
                    reconnect=False,
                    **options,
                )
                return
            except Exception as exc:
                errors.append(f"{broker.host}:{broker.port}: {exc or type(exc).__name__}")
        raise NotifierUnavailable("; ".join(errors))

    def _sender(self, address: str) -> BlockingSender:
        sender = self._senders.get(address)
        if sender is None:
            assert self._connection is not None
            sender = self._connection.create_sender(address)
            self._senders[address] = sender
        return sender

    def _send(self, messages: Sequence[Message]) -> None:
        self._connect()
        for message in messages:
            body = encode(message, envelope=self.config.envelope)
            for topic in self.config.topics:
                key = routing_key(topic, message.event.priority)
                address = self.address.format(exchange=self.config.exchange, routing_key=key)
                outgoing = ProtonMessage(
                    body=body,
                    id=message.event.message_id,
                    subject=key,
                    content_type="application/json",
                    durable=True,
                )
                outgoing.inferred = True  # bytes as a data section, not an AMQP binary value
                self._sender(address).send(outgoing, timeout=self.send_timeout)

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._senders = {}
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing the AMQP 1.0 connection failed", exc_info=True)

    # -- the notifier interface ----------------------------------------------------------

    async def _in_thread(self, function: Any, *args: Any) -> None:
        await anyio.to_thread.run_sync(function, *args, limiter=self._thread)

    async def connect(self) -> None:
        try:
            await self._in_thread(self._connect)
        except NotifierUnavailable:
            raise
        except Exception as exc:
            await self._in_thread(self._drop)
            raise NotifierUnavailable(str(exc) or type(exc).__name__) from exc

    async def send(self, messages: Sequence[Message]) -> None:
        try:
            await self._in_thread(self._send, messages)
        except Exception as exc:
            await self._in_thread(self._drop)
            if isinstance(exc, NotifierUnavailable):
                raise
            raise NotifierUnavailable(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        await self._in_thread(self._drop)
