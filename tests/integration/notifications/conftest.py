"""Brokers for the notification tests: the machine's RabbitMQ, and a private one to stop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.notifications.harness import (
    MAIN_PORT,
    PrivateBroker,
    answers,
    delete_queues,
    unique_topic,
)


@pytest.fixture(scope="session")
def main_broker() -> int:
    """The machine's RabbitMQ (``.ci/run`` starts one when it is down)."""
    if not answers(MAIN_PORT):
        pytest.skip(f"no RabbitMQ answers on 127.0.0.1:{MAIN_PORT}")
    return MAIN_PORT


@pytest.fixture
def topic(main_broker: int) -> Iterator[str]:
    """A topic of the test's own on the machine's broker; its queues go afterwards."""
    name = unique_topic()
    yield name
    delete_queues(main_broker, name)


@pytest.fixture(scope="session")
def private_broker() -> Iterator[PrivateBroker]:
    """Our own RabbitMQ node on other ports; tests stop and start it at will."""
    broker = PrivateBroker()
    try:
        broker.start()
    except Exception as exc:  # rabbitmq-server not installed
        pytest.skip(f"scripts/rabbitmq.sh could not start a broker: {exc}")
    yield broker
    broker.stop()
