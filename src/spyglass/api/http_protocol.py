"""uvicorn's httptools protocol with bounds on request heads and on slow clients.

httptools keeps no limit of its own: a single 128 MiB header line was read
whole (and copied as it grew), and a client could take as long as it liked to
send its headers or its body, holding a connection each. This protocol

- feeds the parser no more head bytes than ``max_head_bytes`` and answers 431
  (414 for the request line) when a line passes ``max_header_line`` or the
  whole head passes the total, then closes the connection;
- closes a connection whose head has not arrived ``header_timeout`` seconds
  after it opened or after the head's first byte (trickling bytes does not
  reset the clock);
- closes a connection that sends no body bytes for ``body_timeout`` seconds
  while the server is waiting for them (not while the server itself has paused
  reading because the application is busy with what it already has).

It also offers the ASGI zero-copy send extension (``api/zero_copy.py``), with which
downloads of local files are sent by ``sendfile``, and writes a small answer's head and
body in one write (``api/one_write.py``).

The limits follow Glance's options: ``max_header_line`` (16 KiB) per line and
``client_socket_timeout`` (900 s) for an idle body; see ``protocol_for``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from spyglass.api import zero_copy
from spyglass.api.one_write import OneWriteCycle
from spyglass.config import Settings

HEADER_DEADLINE = 60.0
"""Longest a client may take over its request head, whatever ``client_socket_timeout``."""
MIN_HEAD_BYTES = 64 * 1024
"""The whole head (request line and headers) may hold this much, or four lines' worth."""


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing a head that is too large; the
    parser reports it as an error, which ``send_400_response`` turns into the refusal."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_header_line: int = 16384,
        header_timeout: float = HEADER_DEADLINE,
        body_timeout: float | None = 900.0,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_header_line = max_header_line
        self.max_head_bytes = max(MIN_HEAD_BYTES, 4 * max_header_line)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._in_head = True
        self._head_bytes = 0
        self._refusal: tuple[int, str] | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_seen = 0.0
        self.zero_copy = True
        """Offer ``http.response.zerocopysend`` (plain-HTTP connections only)."""

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.zero_copy = self.zero_copy and transport.get_extra_info("sslcontext") is None
        self._arm_head_timer()  # a client that sends nothing is held to the same bound

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        while data and self._in_head:
            if self._head_timer is None:
                self._arm_head_timer()
            room = self.max_head_bytes - self._head_bytes
            if room <= 0:
                self._refuse(431, "Request header fields too large.")
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            self._feed(piece)
            if self.transport.is_closing():
                return
        if data:
            self._body_seen = self.loop.time()
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers any parser error with 400; a refusal of ours has its own status."""
        if self._refusal is None:
            super().send_400_response(msg)
        else:
            self._refuse(*self._refusal)

    # -- parser callbacks ----------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_header_line:
            self._refusal = (414, "Request line too long.")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) + 2 > self.max_header_line:
            self._refusal = (431, "Request header field too large.")
            raise _Refused
        super().on_header(name, value)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.zero_copy:
            self.scope["extensions"] = {zero_copy.EXTENSION: {}}

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:
            # uvicorn builds its own cycle class here; its task has not run yet, so the
            # cycle can still become the subclass that writes a small answer at once and
            # takes the zero-copy message (offered on plain HTTP only, in on_message_begin)
            self.cycle.__class__ = OneWriteCycle
        if self.body_timeout and not self.transport.is_closing():
            self._body_seen = self.loop.time()
            self._body_timer = self.loop.call_later(self.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._in_head = True  # what comes next is the next request's head
        self._head_bytes = 0

    # -- refusals and timers -------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        self.logger.warning("Refused a request head: %s", message)
        body = message.encode("ascii")
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_timer()  # a response is still going out; the head waits for it
            return
        if not self.transport.is_closing():
            self.logger.info("Closed a connection whose request head did not arrive in time.")
            self.transport.close()

    def _body_timed_out(self) -> None:
        assert self.body_timeout is not None
        self._body_timer = None
        idle = self.loop.time() - self._body_seen
        if self.flow.read_paused:  # we are not reading: the client is not the slow one
            idle = 0.0
            self._body_seen = self.loop.time()
        if idle < self.body_timeout:
            self._body_timer = self.loop.call_later(self.body_timeout - idle, self._body_timed_out)
            return
        if not self.transport.is_closing():
            self.logger.info("Closed a connection that stopped sending its request body.")
            self.transport.close()


def protocol_for(settings: Settings) -> Callable[..., Any]:
    """The protocol uvicorn should build, with Glance's limits from ``settings``.

    ``max_header_line`` bounds each head line. ``client_socket_timeout`` bounds an idle
    body (0 waits forever, as upstream) and the time to send a head, never more than
    ``HEADER_DEADLINE``. The result is a ``functools.partial`` of a module-level class,
    so it pickles into worker processes.
    """
    max_header_line = _int(settings.option("DEFAULT", "max_header_line"))
    idle = _int(settings.option("DEFAULT", "client_socket_timeout"))
    return functools.partial(
        BoundedHttpToolsProtocol,
        max_header_line=max_header_line,
        header_timeout=min(float(idle), HEADER_DEADLINE) if idle > 0 else HEADER_DEADLINE,
        body_timeout=float(idle) if idle > 0 else None,
    )


def _int(value: object) -> int:
    assert isinstance(value, int), value
    return value
