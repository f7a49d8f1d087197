"""The notifier interface, the drivers by name, and which one a configuration asks for.

A driver publishes messages the outbox hands it and returns only once the
broker has them (publisher confirms); anything else is ``NotifierUnavailable``
and the messages are tried again later. Drivers are found by entry point
(group ``spyglass.notifiers``), like the stores.

Configuration, as upstream reads it: ``[oslo_messaging_notifications] driver``
(``messagingv2``, ``messaging``, ``log``, ``noop``) with ``transport_url``
(``rabbit://`` for AMQP 0-9-1, ``amqp://`` for AMQP 1.0) and ``topics``; or, when
no driver is set, the classic ``notifier_strategy`` (``noop``, ``logging``,
``rabbit``, ``qpid``) with its ``rabbit_*`` and ``qpid_*`` options.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Protocol, cast
from urllib.parse import quote, unquote, urlsplit

from spyglass.config import Settings
from spyglass.errors import ConfigError
from spyglass.notify.envelope import Message

ENTRY_POINT_GROUP = "spyglass.notifiers"
BUILTIN = {
    "noop": "spyglass.notify.noop:NoopNotifier",
    "log": "spyglass.notify.log:LogNotifier",
    "rabbit": "spyglass.notify.amqp:RabbitNotifier",
    "amqp1": "spyglass.notify.amqp1:Amqp1Notifier",
    "memory": "spyglass.notify.memory:MemoryNotifier",
}
_INSTALL_HINT = {
    "rabbit": "pip install 'spyglass[amqp]' (aio-pika)",
    "amqp1": "pip install 'spyglass[amqp]' (python-qpid-proton)",
}
_D = "DEFAULT"
_N = "oslo_messaging_notifications"


class NotifierUnavailable(Exception):
    """The broker cannot take messages now; they stay in the outbox."""


@dataclass(frozen=True, slots=True)
class Broker:
    """One broker address (a ``transport_url`` may list several, tried in order)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    virtual_host: str = "/"
    ssl: bool = False


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    driver: str
    """``noop``, ``log``, ``rabbit`` (AMQP 0-9-1) or ``amqp1`` (AMQP 1.0)."""
    publisher_id: str = "image.localhost"
    brokers: tuple[Broker, ...] = ()
    exchange: str = "glance"
    topics: tuple[str, ...] = ("notifications",)
    envelope: bool = True
    """``messagingv2`` (oslo.version 2.0 envelope) or ``messaging`` (the bare message)."""
    durable: bool = False
    auto_delete: bool = False
    ha_queues: bool = False
    tls: dict[str, str] = field(default_factory=dict)
    """``keyfile``, ``certfile``, ``ca_certs`` for TLS to the broker (``kombu_ssl_*``)."""
    address: str = "/exchange/{exchange}/{routing_key}"
    """The AMQP 1.0 target (``qpid_notification_address``)."""
    retry_backoff: float = 2.0
    retry_max_backoff: float = 30.0
    heartbeat: int = 60
    connect_timeout: float = 5.0
    sasl_mechanisms: str = ""
    reconnect: dict[str, float] = field(default_factory=dict)
    disabled: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.driver != "noop"


class Notifier(Protocol):
    """What the publisher needs from a driver."""

    async def connect(self) -> None:
        """Make sure the broker is reachable; ``NotifierUnavailable`` if not."""
        ...

    async def send(self, messages: Sequence[Message]) -> None:
        """Publish ``messages`` in order; return once the broker has confirmed all."""
        ...

    async def close(self) -> None: ...


def driver_class(name: str) -> type[Notifier]:
    """The driver class registered under ``name`` (entry point, else built in)."""
    target = None
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            target = ep.value
    target = target or BUILTIN.get(name)
    if target is None:
        raise ConfigError(f"notification driver {name!r} is unknown")
    module, _, attr = target.partition(":")
    try:
        return cast("type[Notifier]", getattr(importlib.import_module(module), attr))
    except ImportError as exc:
        hint = _INSTALL_HINT.get(name, "")
        raise ConfigError(f"notification driver {name!r} needs {hint}: {exc}") from exc


def build_notifier(config: NotifyConfig) -> Notifier:
    cls = driver_class(config.driver)
    return cls(config)  # type: ignore[call-arg]


def parse_transport_url(url: str) -> tuple[str, tuple[Broker, ...]]:
    """``rabbit://u:p@h1:5672,u:p@h2:5672/vhost?ssl=1`` -> ("rabbit", brokers)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("rabbit", "amqp", "kombu"):
        raise ConfigError(f"transport_url: unsupported transport {parts.scheme!r}")
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    ssl = query.get("ssl", "").lower() in ("1", "true", "yes")
    default_port = 5671 if ssl else 5672
    brokers = []
    for hostport in (parts.netloc or "localhost").split(","):
        creds, _, addr = hostport.rpartition("@")
        user, _, password = creds.partition(":")
        host, _, port = (
            addr.rpartition(":") if ":" in addr.lstrip("[").split("]")[-1] else (addr, "", "")
        )
        brokers.append(
            Broker(
                host=host.strip("[]") or "localhost",
                port=int(port) if port else default_port,
                username=unquote(user) if creds else None,
                password=unquote(password) if creds else None,
                virtual_host=path or "/",
                ssl=ssl,
            )
        )
    return ("amqp1" if scheme == "amqp" else "rabbit"), tuple(brokers)


def broker_url(broker: Broker) -> str:
    """An ``amqp(s)://`` URL for an AMQP 0-9-1 client."""
    user = quote(broker.username or "guest", safe="")
    password = quote(broker.password or "guest", safe="")
    vhost = quote(broker.virtual_host, safe="")
    scheme = "amqps" if broker.ssl else "amqp"
    return f"{scheme}://{user}:{password}@{broker.host}:{broker.port}/{vhost}"


def _opt(settings: Settings, section: str, name: str) -> object:
    return settings.option(section, name)


def notify_config(settings: Settings) -> NotifyConfig:
    """Which driver, brokers and names the configuration asks for."""
    drivers = [d for d in settings.notification_driver if d]
    config = _modern(settings, drivers) if drivers else _classic(settings)
    return dataclasses.replace(
        config,
        publisher_id=str(_opt(settings, _D, "default_publisher_id")),
        disabled=tuple(cast("Sequence[str]", _opt(settings, _D, "disabled_notifications"))),
    )


def _modern(settings: Settings, drivers: list[str]) -> NotifyConfig:
    chosen = {d for d in drivers if d != "noop"}
    if not chosen:
        return NotifyConfig(driver="noop")
    if len(chosen) > 1:
        raise ConfigError(
            f"[{_N}] driver: only one notification driver is supported, not {sorted(chosen)}"
        )
    (driver,) = chosen
    if driver == "log":
        return NotifyConfig(driver="log")
    if driver not in ("messagingv2", "messaging"):
        raise ConfigError(f"[{_N}] driver: {driver!r} is not supported (messagingv2, log, noop)")
    url = _opt(settings, _N, "transport_url") or _opt(settings, _D, "transport_url")
    kind, brokers = parse_transport_url(str(url or "rabbit://guest:guest@localhost:5672/"))
    retry = cast("int", _opt(settings, _D, "rabbit_retry_backoff"))
    return NotifyConfig(
        driver=kind,
        brokers=brokers,
        exchange=str(_opt(settings, _D, "control_exchange")),
        topics=tuple(cast("Sequence[str]", _opt(settings, _N, "topics"))),
        envelope=driver == "messagingv2",
        retry_backoff=float(retry),
        retry_max_backoff=float(cast("int", _opt(settings, _D, "rabbit_retry_max_backoff"))),
    )


def _host_ports(value: object, default_port: int) -> list[tuple[str, int]]:
    """``rabbit_hosts``/``qpid_hosts``: ``host[:port]`` entries."""
    found = []
    for entry in cast("Sequence[str] | None", value) or ():
        host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "")
        found.append((host or entry, int(port) if port.isdigit() else default_port))
    return found


def _classic(settings: Settings) -> NotifyConfig:
    strategy = settings.notifier_strategy
    if strategy in ("noop", "default"):
        return NotifyConfig(driver="noop")
    if strategy == "logging":
        return NotifyConfig(driver="log")

    def opt(name: str) -> object:
        return _opt(settings, _D, name)

    backoff = float(cast("int", opt("rabbit_retry_backoff")))
    max_backoff = float(cast("int", opt("rabbit_retry_max_backoff")))
    if strategy == "rabbit":
        port = cast("int", opt("rabbit_port"))
        hosts = _host_ports(opt("rabbit_hosts"), port) or [(str(opt("rabbit_host")), port)]
        brokers = tuple(
            Broker(
                host=host,
                port=port,
                username=str(opt("rabbit_userid")),
                password=str(opt("rabbit_password")),
                virtual_host=str(opt("rabbit_virtual_host")),
                ssl=bool(opt("rabbit_use_ssl")),
            )
            for host, port in hosts
        )
        tls = {k: str(opt(f"kombu_ssl_{k}")) for k in ("keyfile", "certfile", "ca_certs")}
        return NotifyConfig(
            driver="rabbit",
            brokers=brokers,
            exchange=str(opt("rabbit_notification_exchange")),
            topics=(str(opt("rabbit_notification_topic")),),
            durable=bool(opt("rabbit_durable_queues")) or bool(opt("amqp_durable_queues")),
            auto_delete=bool(opt("amqp_auto_delete")),
            ha_queues=bool(opt("rabbit_ha_queues")),
            tls={k: v for k, v in tls.items() if v},
            retry_backoff=backoff,
            retry_max_backoff=max_backoff,
        )
    if strategy == "qpid":
        port = cast("int", opt("qpid_port"))
        hosts = _host_ports(opt("qpid_hosts"), port) or [(str(opt("qpid_hostname")), port)]
        brokers = tuple(
            Broker(
                host=host,
                port=port,
                username=str(opt("qpid_username")) or None,
                password=str(opt("qpid_password")) or None,
                ssl=str(opt("qpid_protocol")) == "ssl",
            )
            for host, port in hosts
        )
        reconnect = {
            name: float(cast("int", opt(f"qpid_reconnect_{name}")))
            for name in ("timeout", "limit", "interval_min", "interval_max", "interval")
        }
        interval_max = reconnect["interval_max"] or max_backoff
        interval_min = reconnect["interval_min"] or reconnect["interval"] or 1.0
        return NotifyConfig(
            driver="amqp1",
            brokers=brokers,
            address=str(opt("qpid_notification_address")),
            exchange=str(opt("qpid_notification_exchange")),
            topics=(str(opt("qpid_notification_topic")),),
            heartbeat=cast("int", opt("qpid_heartbeat")),
            sasl_mechanisms=str(opt("qpid_sasl_mechanisms")),
            reconnect=reconnect,
            retry_backoff=interval_min,
            retry_max_backoff=interval_max,
        )
    raise ConfigError(
        f"notifier_strategy: unknown strategy {strategy!r} (noop, logging, rabbit, qpid)"
    )
