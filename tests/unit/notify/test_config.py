"""Which driver, brokers and names a Glance configuration asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from spyglass.config import load_settings
from spyglass.errors import ConfigError
from spyglass.notify.base import (
    Broker,
    NotifyConfig,
    broker_url,
    driver_class,
    notify_config,
    parse_transport_url,
)
from spyglass.notify.log import LogNotifier
from spyglass.notify.noop import NoopNotifier


def _config(tmp_path: Path, text: str) -> NotifyConfig:
    path = tmp_path / "glance-api.conf"
    path.write_text(text)
    return notify_config(load_settings([path]))


def test_default_is_noop(tmp_path: Path) -> None:
    config = _config(tmp_path, "[DEFAULT]\n")
    assert (config.driver, config.enabled) == ("noop", False)
    assert config.publisher_id == "image.localhost"


def test_classic_rabbit(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[DEFAULT]\nnotifier_strategy = rabbit\nrabbit_host = mq\nrabbit_port = 5673\n"
        "rabbit_userid = u\nrabbit_password = p\nrabbit_virtual_host = /v\n"
        "rabbit_use_ssl = true\nrabbit_durable_queues = true\n"
        "disabled_notifications = image.send\ndefault_publisher_id = image.h1\n",
    )
    assert config.driver == "rabbit"
    assert config.brokers == (Broker("mq", 5673, "u", "p", "/v", ssl=True),)
    assert (config.exchange, config.topics) == ("glance", ("glance_notifications",))
    assert config.durable and config.disabled == ("image.send",)
    assert config.publisher_id == "image.h1"
    assert broker_url(config.brokers[0]) == "amqps://u:p@mq:5673/%2Fv"


def test_classic_logging_and_qpid(tmp_path: Path) -> None:
    assert _config(tmp_path, "[DEFAULT]\nnotifier_strategy = logging\n").driver == "log"
    qpid = _config(
        tmp_path,
        "[DEFAULT]\nnotifier_strategy = qpid\nqpid_hostname = q\nqpid_port = 5674\n"
        "qpid_username = u\nqpid_password = p\nqpid_heartbeat = 7\n"
        "qpid_reconnect_interval_max = 9\n",
    )
    assert qpid.driver == "amqp1"
    assert qpid.brokers == (Broker("q", 5674, "u", "p"),)
    assert (qpid.heartbeat, qpid.retry_max_backoff) == (7, 9.0)


def test_modern_names(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[DEFAULT]\ntransport_url = rabbit://a:b@h1:5672,a:b@h2:5673/vh\n"
        "[oslo_messaging_notifications]\ndriver = messagingv2\ntopics = notifications,more\n",
    )
    assert config.driver == "rabbit" and config.envelope
    assert [(b.host, b.port, b.virtual_host) for b in config.brokers] == [
        ("h1", 5672, "vh"),
        ("h2", 5673, "vh"),
    ]
    assert config.topics == ("notifications", "more")
    v1 = _config(
        tmp_path,
        "[oslo_messaging_notifications]\ndriver = messaging\ntransport_url = amqp://h:5672\n",
    )
    assert (v1.driver, v1.envelope) == ("amqp1", False)
    assert _config(tmp_path, "[oslo_messaging_notifications]\ndriver = log\n").driver == "log"
    assert _config(tmp_path, "[oslo_messaging_notifications]\ndriver = noop\n").driver == "noop"


def test_unsupported_choices_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        _config(tmp_path, "[DEFAULT]\nnotifier_strategy = carrier-pigeon\n")
    with pytest.raises(ConfigError):
        _config(tmp_path, "[oslo_messaging_notifications]\ndriver = routing\n")
    with pytest.raises(ConfigError):
        parse_transport_url("kafka://h:9092")


def test_drivers_by_name() -> None:
    assert driver_class("noop") is NoopNotifier
    assert driver_class("log") is LogNotifier
    with pytest.raises(ConfigError):
        driver_class("nope")


def test_legacy_rabbit_and_qpid_options(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[DEFAULT]\nnotifier_strategy = rabbit\nrabbit_hosts = a:5680,b\n"
        "rabbit_ha_queues = true\namqp_durable_queues = true\namqp_auto_delete = true\n"
        "kombu_ssl_ca_certs = /etc/ca.pem\nrabbit_retry_interval = 3\n",
    )
    assert [(b.host, b.port) for b in config.brokers] == [("a", 5680), ("b", 5672)]
    assert config.ha_queues and config.durable and config.auto_delete
    assert config.tls == {"ca_certs": "/etc/ca.pem"}
    qpid = _config(
        tmp_path,
        "[DEFAULT]\nnotifier_strategy = qpid\nqpid_hosts = q1:5700,q2:5701\n"
        "qpid_notification_address = {exchange}/{routing_key}\n",
    )
    assert [(b.host, b.port) for b in qpid.brokers] == [("q1", 5700), ("q2", 5701)]
    assert qpid.address == "{exchange}/{routing_key}"
