"""The ASGI zero-copy send extension for uvicorn's httptools protocol, with ``sendfile``.

uvicorn offers neither ``http.response.pathsend`` nor ``http.response.zerocopysend``, and
uvloop has no ``loop.sendfile``, so a downloaded file's bytes were read into Python and
written back out, 4 MiB at a time. ``ZeroCopyCycle`` takes the extension's message (an open
file, an offset, a count) and has the kernel copy the span to the socket with
``os.sendfile``, in a worker thread that waits for the socket with ``poll``:

- it starts only once the transport has written everything queued before (the head), and
  nothing else writes to the connection meanwhile: the cycle is busy with this message and
  uvicorn runs pipelined requests one after the other;
- it works on its own duplicates of the socket's and the file's descriptors, so a
  connection or file closed under it (client gone, shutdown) never lets it touch a reused
  descriptor; it stops within
  ``POLL_SECONDS`` once told to (the request cancelled);
- the bytes it sent count against ``Content-Length`` as a body message's would, so
  uvicorn's checks, keep-alive and the end of the response are unchanged; a send cut
  short closes the connection and raises ``SendCut``, which says how far it got.

Plain HTTP only: the protocol offers the extension only when the transport has no TLS.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
from typing import Any

import anyio.to_thread
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

EXTENSION = "http.response.zerocopysend"
POLL_SECONDS = 0.5
PIECE = 16 * 1024 * 1024
"""Most bytes one ``sendfile`` call is asked for (the kernel sends what the socket takes)."""


class SendCut(OSError):
    """The connection broke during a zero-copy send (an ``OSError``, as ASGI 2.4 has
    servers raise for sends the client is no longer there for)."""

    def __init__(self, sent: int) -> None:
        super().__init__(f"the connection ended after {sent} bytes of the file")
        self.bytes_sent = sent


class ZeroCopyCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, also taking ``http.response.zerocopysend``."""

    async def send(self, message: Any) -> None:
        if message["type"] != EXTENSION or not self.response_started or self.response_complete:
            await super().send(message)
            return
        more_body = bool(message.get("more_body", False))
        file = message["file"]
        offset = message.get("offset")
        count = message.get("count")
        if offset is None:
            offset = file.tell()
        if count is None:
            count = os.fstat(file.fileno()).st_size - offset
        if self.scope["method"] != "HEAD" and not self.disconnected:
            if self.chunked_encoding:  # no length to send the span under: write it as a body
                await self._send_read(file.fileno(), offset, count)
            else:
                if count > self.expected_content_length:
                    raise RuntimeError("Response content longer than Content-Length")
                sent = await self._sendfile(file.fileno(), offset, count)
                self.expected_content_length -= sent
                if sent < count:  # the client went away, or the file was short
                    self.transport.close()
                    self.disconnected = True
                    raise SendCut(sent)
        await super().send({"type": "http.response.body", "body": b"", "more_body": more_body})

    async def _send_read(self, fd: int, offset: int, count: int) -> None:
        end = offset + count
        while offset < end:
            piece = await anyio.to_thread.run_sync(os.pread, fd, min(PIECE, end - offset), offset)
            if not piece:
                raise RuntimeError("The file is shorter than the span to send")
            offset += len(piece)
            await super().send({"type": "http.response.body", "body": piece, "more_body": True})

    async def _sendfile(self, fd: int, offset: int, count: int) -> int:
        """Bytes sent; fewer than ``count`` only if the connection broke."""
        # The head may still be on its way out; transports signal nothing when their
        # buffer empties (only when it passes the high-water mark), so look again shortly.
        while self.transport.get_write_buffer_size() and not self.transport.is_closing():  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        sock = self.transport.get_extra_info("socket")
        if sock is None or self.transport.is_closing():
            return 0
        target, source = os.dup(sock.fileno()), os.dup(fd)
        stop = threading.Event()
        try:
            return await anyio.to_thread.run_sync(
                send_span, target, source, offset, count, stop, abandon_on_cancel=True
            )
        finally:
            stop.set()  # the thread closes both descriptors itself when it returns


def send_span(target: int, source: int, offset: int, count: int, stop: threading.Event) -> int:
    """``sendfile`` the span of ``source`` to the non-blocking socket ``target``; both
    descriptors are this function's own (duplicates) and closed when it returns."""
    sent = 0
    poller = select.poll()
    poller.register(target, select.POLLOUT)
    try:
        while sent < count and not stop.is_set():
            try:
                n = os.sendfile(target, source, offset + sent, min(PIECE, count - sent))
            except BlockingIOError:
                poller.poll(POLL_SECONDS * 1000)
                continue
            except OSError:  # reset, broken pipe: the client is gone
                break
            if n == 0:  # the file is shorter than it said
                break
            sent += n
    finally:
        os.close(target)
        os.close(source)
    return sent
