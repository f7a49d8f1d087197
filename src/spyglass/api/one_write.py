"""A response's head and its first body message leave in one write.

uvicorn writes the status line and headers as soon as the application sends
``http.response.start``, and the body when it arrives: two ``send`` calls for every
small answer. On loopback a ``send`` does the receiver's TCP work too and wakes the
receiving process, so each answer cost two of both: in a profile of the registry
serving shows (one small JSON answer per call) uvicorn's ``send`` was a sixth of the
worker's CPU, and the API worker reading it woke for the head and again for the body.

``OneWriteCycle`` holds the head back and writes it together with the first body
message when that message is small (``JOIN_LIMIT``); a large one (a download's first
chunk) goes after the head as before, so no big buffer is copied. Every other message
(the zero-copy send, which waits for the head to leave first) finds the head written.
uvicorn's own checks (content length, keep-alive, ``HEAD``) run unchanged: the cycle
only collects what uvicorn writes while it handles the two messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from spyglass.api.zero_copy import ZeroCopyCycle

JOIN_LIMIT = 64 * 1024
"""Largest first body message joined to the head (bigger ones are not copied)."""


class _Collecting:
    """Stands in for the transport while uvicorn handles a message: keeps what it writes
    and whether it closed the connection; everything else goes to the real transport."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.closed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class OneWriteCycle(ZeroCopyCycle):
    """uvicorn's request/response cycle (with the zero-copy send), writing a small
    answer's head and body at once."""

    _head: list[bytes] | None = None

    async def send(self, message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.response_started:
            with self._collecting() as collecting:
                await super().send(message)
            self._head = collecting.parts
            self._close_if(collecting)
            return
        head, self._head = self._head, None
        if head is None:
            await super().send(message)
            return
        body = message.get("body", b"") if kind == "http.response.body" else None
        if body is None or len(body) > JOIN_LIMIT:
            self._write(head)
            await super().send(message)
            return
        try:
            with self._collecting() as collecting:
                await super().send(message)
        finally:
            self._write(head + collecting.parts)
        self._close_if(collecting)

    @contextlib.contextmanager
    def _collecting(self) -> Iterator[_Collecting]:
        """What uvicorn writes meanwhile goes to a collector instead of the connection."""
        collecting = _Collecting(self.transport)
        self.transport = collecting  # type: ignore[assignment]
        try:
            yield collecting
        finally:
            self.transport = collecting.transport

    def _write(self, parts: list[bytes]) -> None:
        if not self.disconnected and not self.transport.is_closing():  # as uvicorn: no
            self.transport.write(b"".join(parts))  # writes to a connection that is gone

    def _close_if(self, collecting: _Collecting) -> None:
        if collecting.closed:  # uvicorn closed it (not keep-alive) after what it wrote
            self.transport.close()
