"""Requests Spyglass makes to URLs its users give it, under the operator's rules.

An HTTP location, a v1 ``x-glance-api-copy-from`` and a ``web-download`` import
all make the server fetch a URL of the caller's choosing, which without rules
lets any user probe the cloud's internal network (SSRF). Every such request
goes through :class:`OutboundClient`, which applies the rules of
``rules.py`` (upstream's ``[import_filtering_opts]``, and no loopback,
link-local or private address unless the operator allows it).

The host is resolved once per request, every address is checked, and the
connection goes to the checked address (the URL is rewritten to it; ``Host``
and TLS SNI keep the name), so a name that resolves differently a moment later
(DNS rebinding) cannot reach anything unchecked. Connections are not kept for
reuse, so a TLS session verified for one name never carries a request for
another. Redirects are followed up to a limit, each target checked again.
Written on httpx rather than its ``follow_redirects`` because redirects must
be checked hop by hop and the connection pinned to the checked address, which
httpx cannot be told to do.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urljoin

import anyio

from spyglass.errors import (
    ConfigError,
    ImageTooLarge,
    NotFound,
    RangeNotSatisfiable,
    RemoteRefused,
    RemoteUnavailable,
)
from spyglass.lazy import lazy_module
from spyglass.net.rules import DEFAULT_PORTS, Address, OutboundLimits, OutboundRules, Target

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")  # loaded by the first outbound fetch

__all__ = [
    "OutboundClient",
    "OutboundLimits",
    "OutboundRules",
    "RemoteData",
    "RemoteInfo",
    "Resolver",
    "Target",
    "system_resolver",
]

REDIRECTS = frozenset({301, 302, 303, 307, 308})

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``; tests pass their own to stand in for DNS."""

log = logging.getLogger(__name__)


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's resolver, off the event loop."""
    try:
        found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(sockaddr[0]) for *_, sockaddr in found]


class RemoteInfo(NamedTuple):
    """What a HEAD request found out."""

    size: int | None
    """``Content-Length``, if the server sent one."""
    ranges: bool
    """The server says it serves byte ranges (``Accept-Ranges: bytes``)."""


class RemoteData(NamedTuple):
    """An opened response: ``stream`` yields exactly ``size`` bytes when ``size`` is known."""

    size: int | None
    stream: AsyncGenerator[bytes, None]


@dataclass(frozen=True, slots=True)
class _Range:
    """Inclusive offsets; a negative ``start`` is a suffix of ``-start`` bytes."""

    start: int
    end: int | None

    def header(self) -> str:
        if self.start < 0:
            return f"bytes={self.start}"
        return f"bytes={self.start}-{'' if self.end is None else self.end}"


class OutboundClient:
    """Fetches user-given URLs under the operator's rules; one per server."""

    def __init__(
        self,
        rules: OutboundRules,
        limits: OutboundLimits | None = None,
        *,
        verify: bool | str = True,
        proxies: Mapping[str, str] | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        """``verify``: check certificates (``True``), against this CA bundle (a path),
        or not at all (``False``: glance_store's ``https_insecure``)."""
        self.rules = rules
        self.limits = limits or OutboundLimits()
        self.resolver = resolver
        self._tls: bool | ssl.SSLContext = (
            verify if isinstance(verify, bool) else _ca_context(verify)
        )
        self._proxies = dict(proxies or {})
        self._proxied = frozenset(self._proxies)
        """Schemes that go through an operator's proxy (``http_proxy_information``): the
        address is checked here, but the proxy resolves the name again and connects."""

    @functools.cached_property
    def _client(self) -> httpx.AsyncClient:
        """Made by the first request: most servers never fetch a remote URL, and httpx
        loads with it (``spyglass.lazy``)."""
        timeout = httpx.Timeout(
            self.limits.read_timeout,
            connect=self.limits.connect_timeout,
            pool=self.limits.connect_timeout,
        )
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
        for scheme, proxy in self._proxies.items():
            mounts[f"{scheme}://"] = httpx.AsyncHTTPTransport(
                proxy=proxy if "://" in proxy else f"http://{proxy}",
                verify=self._tls,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        return httpx.AsyncClient(
            verify=self._tls,
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
            trust_env=False,
            follow_redirects=False,
            mounts=mounts or None,
        )

    async def aclose(self) -> None:
        if "_client" in self.__dict__:  # made
            await self._client.aclose()

    def check(self, url: str) -> Target:
        """The scheme, host and port rules alone (no DNS), for early 400s."""
        return self.rules.check_url(url)

    async def check_reachable(self, url: str) -> Target:
        """Every rule, the host resolved and its addresses checked, without a request:
        an early 400 for a URL that would be refused later (each request checks again)."""
        target = self.rules.check_url(url)
        await self._checked_address(target)
        return target

    async def head(self, url: str) -> RemoteInfo:
        response = await self._send("HEAD", url)
        await response.aclose()
        return RemoteInfo(
            size=_length(response),
            ranges="bytes" in response.headers.get("accept-ranges", "").lower(),
        )

    async def open(
        self,
        url: str,
        *,
        start: int | None = None,
        end: int | None = None,
        max_size: int | None = None,
    ) -> RemoteData:
        """GET ``url``; with ``start`` (and ``end``, inclusive; a negative start is a
        suffix) only those bytes, by a ranged request when the server serves them
        and by skipping otherwise. More than ``max_size`` bytes (default: the
        limits') fail with ``ImageTooLarge`` before or while they arrive."""
        wanted = None if start is None else _Range(start, end)
        headers = {} if wanted is None else {"Range": wanted.header()}
        response = await self._send("GET", url, headers)
        cap = max_size if max_size is not None else self.limits.max_size
        try:
            size, skip = _body_plan(response, wanted)
        except BaseException:
            await response.aclose()
            raise
        if cap is not None and size is not None and size > cap:
            await response.aclose()
            raise ImageTooLarge(f"The remote data has {size} bytes, more than {cap} allowed.")
        return RemoteData(size, _body(response, size, skip, cap))

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """The first non-redirect response, each hop checked; errors become ours."""
        target = self.rules.check_url(url)
        for _hop in range(self.limits.max_redirects + 1):
            response = await self._send_once(method, target, headers or {})
            if response.status_code not in REDIRECTS:
                _check_status(response)
                return response
            await response.aclose()
            location = response.headers.get("location")
            if not location:
                raise RemoteRefused("The remote server redirected without a Location.")
            following = self.rules.check_url(urljoin(target.url, location))
            same_origin = (following.scheme, following.host, following.port) == (
                target.scheme,
                target.host,
                target.port,
            )
            if same_origin and following.username is None:  # never on to another server
                following = replace(following, username=target.username, password=target.password)
            target = following
            if response.status_code == 303 and method != "HEAD":
                method = "GET"
        raise RemoteRefused(
            f"The remote server redirected more than {self.limits.max_redirects} times."
        )

    async def _send_once(
        self, method: str, target: Target, headers: Mapping[str, str]
    ) -> httpx.Response:
        address = await self._checked_address(target)
        literal = f"[{address}]" if address.version == 6 else str(address)
        default = DEFAULT_PORTS[target.scheme] == target.port
        host_header = target.host if default else f"{target.host}:{target.port}"
        if ":" in target.host:
            host_header = f"[{target.host}]" if default else f"[{target.host}]:{target.port}"
        sent = {"Host": host_header, "Accept-Encoding": "identity", **headers}
        if target.username is not None:
            pair = f"{target.username}:{target.password or ''}".encode()
            sent["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        if target.scheme in self._proxied:  # the proxy connects: it needs the name
            host = f"[{target.host}]" if ":" in target.host else target.host
            url, extensions = f"{target.scheme}://{host}:{target.port}{target.path}", {}
        else:
            url = f"{target.scheme}://{literal}:{target.port}{target.path}"
            extensions = {"sni_hostname": target.host}
        request = self._client.build_request(method, url, headers=sent, extensions=extensions)
        try:
            return await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise RemoteUnavailable(
                f"The remote server {target.host} did not answer in time."
            ) from None
        except httpx.HTTPError as exc:
            log.info("outbound %s to %s failed: %s", method, target.host, type(exc).__name__)
            raise RemoteUnavailable(f"The remote server {target.host} cannot be reached.") from None

    async def _checked_address(self, target: Target) -> Address:
        """Resolve once; every address must pass, and the first is the one connected."""
        try:
            addresses = [ipaddress.ip_address(target.host)]
        except ValueError:
            found = await self.resolver(target.host, target.port)
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise RemoteUnavailable(f"The host {target.host} cannot be resolved.")
        for address in addresses:
            self.rules.check_address(target, address)
        return addresses[0]


def _ca_context(ca_file: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"https_ca_certificates_file {ca_file}: {exc}") from None


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 300:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise RemoteRefused(f"The remote server sends the data {encoding}-encoded.")
        return
    if status in (404, 410):
        raise NotFound("The remote server has no data at the location.")
    if status == 416:
        raise RangeNotSatisfiable("The remote server cannot serve the requested range.")
    if status >= 500:
        raise RemoteUnavailable(f"The remote server answered {status}.")
    raise RemoteRefused(f"The remote server answered {status}.")


def _length(response: httpx.Response) -> int | None:
    raw = response.headers.get("content-length", "")
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _body_plan(response: httpx.Response, wanted: _Range | None) -> tuple[int | None, int]:
    """(bytes the caller will get, bytes to skip first) for the response to ``wanted``."""
    length = _length(response)
    if wanted is None:
        return length, 0
    if response.status_code == 206:
        return length, 0
    # the server ignored the range and sends everything: cut the range out locally
    if wanted.start < 0:
        if length is None:
            raise RemoteRefused("The remote server sends no length; a suffix cannot be cut.")
        start = max(0, length + wanted.start)
        return length - start, start
    if length is not None and wanted.start >= length:
        raise RangeNotSatisfiable(f"Requested range not satisfiable: the data has {length} bytes.")
    if wanted.end is not None:
        end = wanted.end if length is None else min(wanted.end, length - 1)
        return end - wanted.start + 1, wanted.start
    return (None if length is None else length - wanted.start), wanted.start


async def _body(
    response: httpx.Response, size: int | None, skip: int, cap: int | None
) -> AsyncGenerator[bytes, None]:
    """The response's bytes after ``skip``, ``size`` of them when known; a response
    that ends early fails instead of passing as complete."""
    sent = 0
    try:
        async for chunk in response.aiter_raw():
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk, skip = chunk[skip:], 0
            if size is not None and sent + len(chunk) > size:
                chunk = chunk[: size - sent]
            sent += len(chunk)
            if cap is not None and sent > cap:
                raise ImageTooLarge(f"The remote data is larger than {cap} bytes.")
            if chunk:
                yield chunk
            if size is not None and sent >= size:
                return
    except httpx.TimeoutException:
        raise RemoteUnavailable("The remote server stopped sending the image data.") from None
    except httpx.HTTPError:
        raise RemoteUnavailable("The transfer from the remote server broke off.") from None
    finally:
        await response.aclose()
    if size is not None and sent < size:
        raise RemoteUnavailable(f"The remote server sent {sent} of {size} bytes.")
