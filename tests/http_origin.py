"""A real HTTP server on loopback that holds image bytes, for HTTP-location and copy-from tests.

Each path is a :class:`Resource`: bytes (served with or without byte ranges, with
or without a length), a redirect, or a server that stalls. The server records the
requests it saw (method, path, Host, Range, Authorization), so tests can check
what Spyglass sent and where.
"""

from __future__ import annotations

import re
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class Resource:
    data: bytes = b""
    ranges: bool = True
    """Serve ``Range`` requests with 206 (else ignore them and send everything)."""
    length: bool = True
    """Send ``Content-Length`` (else close the connection after the body)."""
    redirect: str | None = None
    status: int = 200
    stall: float = 0.0
    """Seconds to wait after the headers before sending the body."""
    truncate: int | None = None
    """Announce the full length but send only this many bytes."""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    host: str | None
    range: str | None
    authorization: str | None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        origin = self.server.origin
        origin.seen.append(
            Seen(
                self.command,
                self.path,
                self.headers.get("Host"),
                self.headers.get("Range"),
                self.headers.get("Authorization"),
            )
        )
        resource = origin.resources.get(self.path.split("?", 1)[0])
        if resource is None:
            self._empty(404)
            return
        if resource.redirect is not None:
            self.send_response(resource.status if resource.status != 200 else 302)
            self.send_header("Location", resource.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if resource.status != 200:
            self._empty(resource.status)
            return
        data, status, extra = resource.data, 200, dict(resource.headers)
        wanted = self.headers.get("Range")
        if resource.ranges:
            extra["Accept-Ranges"] = "bytes"
            match = _RANGE.match(wanted or "")
            if match:
                data, status, extra = _ranged(resource.data, match, extra)
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        if resource.length:
            self.send_header("Content-Length", str(len(data)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not body:
            return
        if resource.stall:
            time.sleep(resource.stall)
        if resource.truncate is not None:
            data = data[: resource.truncate]
            self.close_connection = True
        try:
            for start in range(0, len(data), 65536):
                self.wfile.write(data[start : start + 65536])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _ranged(
    data: bytes, match: re.Match[str], extra: dict[str, str]
) -> tuple[bytes, int, dict[str, str]]:
    first, last = match.group(1), match.group(2)
    total = len(data)
    if first:
        start = int(first)
        end = min(int(last), total - 1) if last else total - 1
    else:
        start, end = max(0, total - int(last)), total - 1
    if start >= total:
        return b"", 416, {**extra, "Content-Range": f"bytes */{total}"}
    return data[start : end + 1], 206, {**extra, "Content-Range": f"bytes {start}-{end}/{total}"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    origin: HttpOrigin

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class HttpOrigin:
    """``with HttpOrigin() as origin: origin.put("/a.img", data); origin.url("/a.img")``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve HTTPS with this server-side context."""
        self.resources: dict[str, Resource] = {}
        self.seen: list[Seen] = []
        self.scheme = "https" if tls else "http"
        self._server = _Server(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._server.origin = self
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def put(self, path: str, data: bytes = b"", **options: object) -> str:
        self.resources[path] = Resource(data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def requests(self, path: str) -> Iterator[Seen]:
        return (seen for seen in self.seen if seen.path.split("?", 1)[0] == path)

    def __enter__(self) -> HttpOrigin:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
