"""Object bodies read straight off the socket, in 1 MiB pieces.

Measured on Swift here, httpx's streamed read of a large object costs about
1.2 CPU-seconds per GiB (h11 hands the body over in 64 KiB pieces, each copied
on its way through h11's buffer, httpcore and httpx), against about 0.35 for
python-swiftclient's urllib3 or for this reader. Swift runs on the same cores,
so that CPU is throughput. This reader handles only the common case, a 200 or
206 with a ``Content-Length`` and no transfer coding, on a connection of its
own that is closed afterwards; anything else (errors, 401s, chunked bodies)
gives ``None`` and the driver asks again through httpx, which handles it all.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import anyio.abc

READ_SIZE = 1024 * 1024
HEAD_LIMIT = 64 * 1024


class BrokenBody(Exception):
    """The connection ended or failed before the whole body arrived."""


@dataclass
class DirectBody:
    """An open response: its headers (lower-case names) and the rest of its body."""

    status: int
    headers: Mapping[str, str]
    length: int
    _stream: anyio.abc.ByteStream
    _first: bytes
    timeout: float = 120.0
    """Seconds one read may wait for Swift before the transfer counts as broken."""
    _closed: bool = False

    async def chunks(self) -> AsyncIterator[bytes]:
        remaining = self.length
        try:
            if self._first:
                first = self._first[:remaining]
                remaining -= len(first)
                yield first
            while remaining > 0:
                try:
                    with anyio.fail_after(self.timeout):
                        chunk = await self._stream.receive(min(READ_SIZE, remaining))
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError, TimeoutError) as exc:
                    raise BrokenBody(type(exc).__name__) from None
                remaining -= len(chunk)
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()


async def open_body(
    url: str,
    headers: Mapping[str, str],
    *,
    ssl_context: ssl.SSLContext | None,
    read_timeout: float = 120.0,
) -> DirectBody | None:
    """GET ``url``; the open body for a plain 200/206, else ``None`` (nothing left open).

    Connection failures raise ``OSError`` (or anyio's errors); the caller bounds
    the wait with ``anyio.fail_after``."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    stream: anyio.abc.ByteStream
    if secure:
        stream = await anyio.connect_tcp(
            host, port, tls=True, ssl_context=ssl_context, tls_hostname=host
        )
    else:
        stream = await anyio.connect_tcp(host, port)
    try:
        await stream.send(request)
        head = b""
        while b"\r\n\r\n" not in head:
            if len(head) > HEAD_LIMIT:
                raise BrokenBody("response head too large")
            head += await stream.receive(HEAD_LIMIT)
    except BaseException:
        await stream.aclose()
        raise
    raw, _, first = head.partition(b"\r\n\r\n")
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    fields = status_line.split(" ", 2)
    found: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
    length = found.get("content-length", "")
    if status not in (200, 206) or not length.isdigit() or "transfer-encoding" in found:
        await stream.aclose()
        return None
    return DirectBody(status, found, int(length), stream, first, read_timeout)
