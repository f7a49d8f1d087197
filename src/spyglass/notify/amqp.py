"""``rabbit``: AMQP 0-9-1 to RabbitMQ with aio-pika, as oslo.messaging's rabbit driver lays it out.

The exchange (``glance``, type topic) and, for each routing key
``<topic>.<priority>``, a queue of that name bound to it are declared as
oslo.messaging declares them, so events published before any consumer
exists wait in the queue, and an oslo.messaging listener finds its queue
already there (same durability, no extra arguments). Every message is
persistent and published with publisher confirms: ``send`` returns only once
the broker has acknowledged each one. Any failure drops the connection; the
next ``connect`` tries each broker of ``transport_url`` in turn.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from spyglass.notify.base import NotifierUnavailable, NotifyConfig, broker_url
from spyglass.notify.envelope import Message, encode, routing_key

log = logging.getLogger(__name__)


class RabbitNotifier:
    def __init__(self, config: NotifyConfig) -> None:
        if not config.brokers:
            raise ValueError("the rabbit notifier needs at least one broker")
        self.config = config
        self.publish_timeout = max(config.connect_timeout, 10.0)
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._queues: set[str] = set()
        self._next_broker = 0
        self._lock = asyncio.Lock()

    def _queue_arguments(self) -> dict[str, Any] | None:
        return {"x-ha-policy": "all"} if self.config.ha_queues else None

    async def connect(self) -> None:
        async with self._lock:
            connection = self._connection
            if self._exchange is not None and connection is not None and not connection.is_closed:
                return
            await self._drop()
            errors = []
            for _ in self.config.brokers:
                broker = self.config.brokers[self._next_broker]
                self._next_broker = (self._next_broker + 1) % len(self.config.brokers)
                try:
                    await self._open(broker_url(broker), use_ssl=broker.ssl)
                    return
                except Exception as exc:
                    errors.append(f"{broker.host}:{broker.port}: {exc or type(exc).__name__}")
                    await self._drop()
            raise NotifierUnavailable("; ".join(errors))

    def _tls(self) -> ssl.SSLContext:
        tls = self.config.tls
        context = ssl.create_default_context(cafile=tls.get("ca_certs"))
        if "certfile" in tls:
            context.load_cert_chain(tls["certfile"], tls.get("keyfile"))
        return context

    async def _open(self, url: str, *, use_ssl: bool) -> None:
        context = self._tls() if use_ssl else None
        self._connection = await aio_pika.connect(
            f"{url}?heartbeat={self.config.heartbeat}",
            timeout=self.config.connect_timeout,
            ssl_context=context,
            client_properties={"connection_name": f"spyglass {self.config.publisher_id}"},
        )
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._channel.declare_exchange(
            self.config.exchange,
            aio_pika.ExchangeType.TOPIC,
            durable=self.config.durable,
            auto_delete=self.config.auto_delete,
        )
        self._queues = set()

    async def _declare(self, key: str) -> None:
        if key in self._queues:
            return
        assert self._channel is not None and self._exchange is not None
        queue = await self._channel.declare_queue(
            key,
            durable=self.config.durable,
            auto_delete=self.config.auto_delete,
            arguments=self._queue_arguments(),
        )
        await queue.bind(self._exchange, routing_key=key)
        self._queues.add(key)

    async def send(self, messages: Sequence[Message]) -> None:
        await self.connect()
        try:
            exchange = self._exchange
            assert exchange is not None
            publishes = []
            for message in messages:
                body = encode(message, envelope=self.config.envelope)
                for topic in self.config.topics:
                    key = routing_key(topic, message.event.priority)
                    await self._declare(key)
                    amqp_message = aio_pika.Message(
                        body,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=message.event.message_id,
                    )
                    # one channel, publishes taken in order: the broker keeps this order
                    publishes.append(
                        exchange.publish(
                            amqp_message, key, mandatory=False, timeout=self.publish_timeout
                        )
                    )
            results = await asyncio.gather(*publishes, return_exceptions=True)
        except Exception as exc:
            await self._reset()
            raise NotifierUnavailable(str(exc) or type(exc).__name__) from exc
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            await self._reset()
            first = failures[0]
            raise NotifierUnavailable(str(first) or type(first).__name__) from first

    async def _reset(self) -> None:
        async with self._lock:
            await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = self._exchange = None
        self._queues = set()
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), timeout=2)
            except Exception:
                log.debug("closing the broker connection failed", exc_info=True)

    async def close(self) -> None:
        await self._reset()
