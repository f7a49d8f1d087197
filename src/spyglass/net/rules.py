"""The operator's rules for the URLs the server fetches: ``[import_filtering_opts]``.

Upstream's six lists (schemes, hosts, ports; an allow list, when set, wins
over its deny list) plus Spyglass's own: addresses that are not globally
routable are refused unless their network is in ``allowed_networks`` or the
host is named in ``allowed_hosts``. Pure checks, no I/O: ``outbound.py``
resolves names and applies :meth:`OutboundRules.check_address` to what it
will connect to.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from spyglass.errors import ConfigError, OutboundDenied

SECTION = "import_filtering_opts"
SCHEMES = frozenset({"http", "https"})
"""What the client speaks, whatever ``allowed_schemes`` lists."""
DEFAULT_PORTS = {"http": 80, "https": 443}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


Lookup = Callable[[str, str], object]
"""``(section, name) -> value``: ``Settings.option``, or a store's ``server_option``."""


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the scheme, host and port rules."""

    url: str
    scheme: str
    host: str
    """Normalized: an address in standard form, or a lower-case name without a final dot."""
    port: int
    path: str
    """Path and query, as sent in the request line."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def normalize_host(host: str) -> str | None:
    """An address in standard form, or the name itself; ``None`` for encoded addresses.

    As upstream's ``normalize_hostname``: decimal, hex, octal and shorthand
    forms of an IPv4 address (``2130706433``, ``0x7f000001``, ``127.1``) are
    refused, since resolvers read them as addresses that the host lists were
    never written for.
    """
    host = host.strip().lower()
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    name = host.removesuffix(".")
    if not name or all(c.isdigit() or c == "." for c in name):
        return None
    try:
        socket.inet_aton(name)
    except OSError:
        pass
    else:
        return None  # the C library would read it as an address
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return name


def _is_public(address: Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True, slots=True)
class OutboundRules:
    """Which URLs the server may fetch: upstream's six lists and Spyglass's networks."""

    allowed_schemes: frozenset[str] = frozenset({"http", "https"})
    disallowed_schemes: frozenset[str] = frozenset()
    allowed_hosts: frozenset[str] = frozenset()
    disallowed_hosts: frozenset[str] = frozenset()
    allowed_ports: frozenset[int] = frozenset({80, 443})
    disallowed_ports: frozenset[int] = frozenset()
    allowed_networks: tuple[Network, ...] = ()
    """Non-global ranges that may be reached (``10.0.0.0/8``, ``127.0.0.0/8`` in tests)."""

    @classmethod
    def build(
        cls,
        *,
        allowed_schemes: tuple[str, ...] = ("http", "https"),
        disallowed_schemes: tuple[str, ...] = (),
        allowed_hosts: tuple[str, ...] = (),
        disallowed_hosts: tuple[str, ...] = (),
        allowed_ports: tuple[int | str, ...] = (80, 443),
        disallowed_ports: tuple[int | str, ...] = (),
        allowed_networks: tuple[str, ...] = (),
    ) -> OutboundRules:
        """Rules from option values as written (ports and networks as text); a
        malformed entry is a ``ConfigError`` naming it."""
        return cls(
            allowed_schemes=frozenset(s.strip().lower() for s in allowed_schemes),
            disallowed_schemes=frozenset(s.strip().lower() for s in disallowed_schemes),
            allowed_hosts=_hosts("allowed_hosts", allowed_hosts),
            disallowed_hosts=_hosts("disallowed_hosts", disallowed_hosts),
            allowed_ports=_ports("allowed_ports", allowed_ports),
            disallowed_ports=_ports("disallowed_ports", disallowed_ports),
            allowed_networks=_networks(allowed_networks),
        )

    @classmethod
    def from_options(cls, option: Lookup) -> OutboundRules:
        """The rules of ``[import_filtering_opts]``."""

        def values(name: str) -> tuple[str, ...]:
            value = option(SECTION, name)
            return tuple(str(v) for v in value) if isinstance(value, tuple | list) else ()

        return cls.build(
            allowed_schemes=values("allowed_schemes"),
            disallowed_schemes=values("disallowed_schemes"),
            allowed_hosts=values("allowed_hosts"),
            disallowed_hosts=values("disallowed_hosts"),
            allowed_ports=values("allowed_ports"),
            disallowed_ports=values("disallowed_ports"),
            allowed_networks=values("allowed_networks"),
        )

    def check_url(self, url: str) -> Target:
        """The URL's target if the scheme, host and port rules let it through.

        As upstream, an allow list that is set makes its deny list ignored. Unlike
        upstream, a URL without a port is checked with its scheme's port, so
        ``allowed_ports`` cannot be bypassed by leaving the port out.
        """
        try:
            parts = urlsplit(url)
            explicit_port = parts.port
        except ValueError:
            raise OutboundDenied("The URL cannot be parsed.") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise OutboundDenied(f"Only http and https URLs can be fetched, not {scheme!r}.")
        if (self.allowed_schemes and scheme not in self.allowed_schemes) or (
            not self.allowed_schemes and scheme in self.disallowed_schemes
        ):
            raise OutboundDenied(f"The URL scheme {scheme!r} is not allowed.")
        host = normalize_host(parts.hostname or "")
        if host is None:
            raise OutboundDenied("The URL names no host, or an encoded address.")
        if (self.allowed_hosts and host not in self.allowed_hosts) or (
            not self.allowed_hosts and host in self.disallowed_hosts
        ):
            raise OutboundDenied(f"The host {host} is not allowed.")
        port = explicit_port if explicit_port is not None else DEFAULT_PORTS[scheme]
        if (self.allowed_ports and port not in self.allowed_ports) or (
            not self.allowed_ports and port in self.disallowed_ports
        ):
            raise OutboundDenied(f"The port {port} is not allowed.")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Target(
            url=url,
            scheme=scheme,
            host=host,
            port=port,
            path=path,
            username=None if parts.username is None else unquote(parts.username),
            password=None if parts.password is None else unquote(parts.password),
        )

    def check_address(self, target: Target, address: Address) -> None:
        """Refuse a non-global address unless its network, or the host, is allowed."""
        if _is_public(address) or target.host in self.allowed_hosts:
            return
        if any(address in network for network in self.allowed_networks):
            return
        raise OutboundDenied(
            f"The host {target.host} resolves to a loopback, link-local or private address, "
            "which this server does not reach."
        )


def _hosts(option: str, values: tuple[str, ...]) -> frozenset[str]:
    hosts = set()
    for value in values:
        host = normalize_host(value)
        if host is None:
            raise ConfigError(f"[{SECTION}] {option}: {value!r} is not a host name or address")
        hosts.add(host)
    return frozenset(hosts)


def _ports(option: str, values: tuple[int | str, ...]) -> frozenset[int]:
    ports = set()
    for value in values:
        try:
            port = int(value)
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise ConfigError(f"[{SECTION}] {option}: {value!r} is not a port (1-65535)")
        ports.add(port)
    return frozenset(ports)


def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)
    except ValueError as exc:
        raise ConfigError(f"[{SECTION}] allowed_networks: {exc}") from None


@dataclass(frozen=True, slots=True)
class OutboundLimits:
    max_redirects: int = 5
    """Redirects followed per request (glance_store's ``MAX_REDIRECTS``)."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    """Seconds without a byte from the remote before the transfer fails."""
    max_size: int | None = None
    """Bytes a single response may bring (``image_size_cap``); ``None``: no cap."""

    @classmethod
    def from_options(cls, option: Lookup, *, max_size: int | None = None) -> OutboundLimits:
        def number(name: str, default: float) -> float:
            value = option(SECTION, name)
            return float(value) if isinstance(value, int | float) else default

        return cls(
            max_redirects=int(number("max_redirects", 5)),
            connect_timeout=number("connect_timeout", 10.0),
            read_timeout=number("read_timeout", 60.0),
            max_size=max_size,
        )
