"""A small HTTP/1.1 client for the registry's calls: keep-alive connections on asyncio streams.

Every repository call of an API server in registry mode is one ``POST`` with a JSON
body and a JSON answer of known length. httpx spent about ten times the CPU of the
exchange itself on each (its pool, h11's pure-Python parsing, anyio's locks): measured
on this machine at 2.6 ms against 0.2 ms per call, most of the registry path's cost.
This client does only what those calls need: one request at a time per connection,
``Content-Length`` bodies (chunked answers are read too), connections reused LIFO and
dropped after ``IDLE_EXPIRY`` seconds idle (the registry keeps them 75 s), TLS with the
caller's ``SSLContext`` (client certificates included).

Failures say whether the request can have reached the registry: ``NotSent`` (no
connection, no free slot) never did; ``Broken`` (the connection closed or reset under
the exchange) may have; ``TimedOut`` ran past the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

IDLE_EXPIRY = 50.0
"""Seconds an idle connection is kept for reuse."""
MAX_IDLE = 64
MAX_CONNECTIONS = 256
MAX_HEAD = 64 * 1024
"""Longest response head accepted (status line and headers)."""


class TransportError(Exception):
    """The exchange failed below HTTP."""


class NotSent(TransportError):
    """Nothing reached the registry: it cannot be reached, or every connection is busy."""


class Broken(TransportError):
    """The connection closed or reset during the exchange."""


class TimedOut(TransportError):
    """No complete answer within the deadline."""


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def _check_header(name: str, value: str) -> None:
    if any(c in name or c in value for c in "\r\n\0") or ":" in name:
        raise ValueError(f"invalid header {name!r}")


class Http1Pool:
    """Keep-alive connections to one origin (``http://host:port`` or ``https://...``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        connect_timeout: float,
        tls: ssl.SSLContext | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            raise ValueError(f"not an http(s) origin: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = tls if parts.scheme == "https" else None
        if parts.scheme == "https" and self.tls is None:
            self.tls = ssl.create_default_context()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        netloc = parts.netloc.rpartition("@")[2]
        fixed = {"Host": netloc, **(headers or {})}
        for name, value in fixed.items():
            _check_header(name, value)
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._closed = False

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        within: float | None = None,
    ) -> tuple[int, bytes]:
        """``(status, body)`` of one exchange, within ``within`` seconds (else the pool's
        ``timeout``)."""
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}"
        for name, value in (headers or {}).items():
            _check_header(name, value)
            head += f"{name}: {value}\r\n"
        message = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        deadline = within if within is not None else self.timeout
        if self._slots.locked():  # a free slot is taken at once, with no timer to set
            try:
                async with asyncio.timeout(deadline):
                    await self._slots.acquire()
            except TimeoutError:
                raise NotSent("no free connection in time") from None
        else:
            await self._slots.acquire()
        try:
            return await self._exchange(message, deadline)
        finally:
            self._slots.release()

    async def _exchange(self, message: bytes, deadline: float) -> tuple[int, bytes]:
        connection = self._reuse()
        if connection is None:
            connection = await self._connect(min(deadline, self.connect_timeout))
        try:
            async with asyncio.timeout(deadline):
                connection.writer.write(message)
                await connection.writer.drain()
                status, answer, keep = await _read_response(connection.reader)
        except TimeoutError:
            connection.close()
            raise TimedOut(f"no answer within {deadline:g} s") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise Broken(f"{type(exc).__name__}: {exc}") from None
        except BaseException:  # cancelled mid-exchange: the connection's state is unknown
            connection.close()
            raise
        if keep and not self._closed and len(self._idle) < MAX_IDLE:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return status, answer

    def _reuse(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the likeliest alive
            if now - connection.idle_since < IDLE_EXPIRY and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    async def _connect(self, within: float) -> _Connection:
        try:
            async with asyncio.timeout(within):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self.tls,
                    server_hostname=self.host if self.tls is not None else None,
                    limit=MAX_HEAD,
                )
        except TimeoutError:
            raise NotSent(f"no connection within {within:g} s") from None
        except OSError as exc:  # refused, unreachable, TLS handshake refused
            raise NotSent(f"{type(exc).__name__}: {exc}") from None
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the connection may be reused."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1 answer: {lines[0][:40]!r}")
    status = int(rest[:3])
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    keep = fields.get("connection", "").lower() != "close" and version == "HTTP/1.1"
    if "content-length" in fields:
        return status, await reader.readexactly(int(fields["content-length"])), keep
    if fields.get("transfer-encoding", "").lower() == "chunked":
        return status, await _read_chunked(reader), keep
    if status in (204, 304) or 100 <= status < 200:
        return status, b"", keep
    return status, await reader.read(), False  # delimited by the connection's end


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
