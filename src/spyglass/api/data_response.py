"""The answer that carries image data: sent by the kernel when it can be, streamed otherwise.

A read from a local file (the filesystem store, a cache hit) comes with that file's span
(``LocalFile``). If the ASGI server offers a way to send a file without the bytes passing
through Python, the span goes that way:

- ``http.response.zerocopysend`` (the ASGI zero-copy send extension: an open file, an
  offset and a count), which Spyglass's own uvicorn protocol implements with ``sendfile``
  (``api/zero_copy.py``): any span, ranges included;
- ``http.response.pathsend`` (a path, sent whole), offered by other servers such as
  granian: only when the span is the whole file.

Otherwise, and for every other store, the read's stream is sent as before. The headers,
the status and the bytes are the same whichever way is taken; only who copies them differs.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from spyglass.stores.base import LocalFile, ReadResult

ZERO_COPY = "http.response.zerocopysend"
PATH_SEND = "http.response.pathsend"


def send_method(scope: Scope, local: LocalFile | None) -> str | None:
    """The extension this response can use with this server, or ``None`` to stream."""
    if local is None or scope.get("method") != "GET" or local.length == 0:
        return None
    extensions = scope.get("extensions") or {}
    if ZERO_COPY in extensions:
        return ZERO_COPY
    if PATH_SEND in extensions and local.whole:
        return PATH_SEND
    return None


class DataResponse(StreamingResponse):
    def __init__(
        self,
        data: ReadResult,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            data.stream,
            status_code=status_code,
            headers={"Content-Length": str(data.size), **(headers or {})},
            media_type="application/octet-stream",
        )
        self.local = data.local

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        local = self.local
        method = send_method(scope, local)
        try:
            if method is None or local is None:
                await super().__call__(scope, receive, send)
            else:
                await self._send_file(method, local, send)
        finally:
            if local is not None:
                local.close()  # a stream that never started has not closed it

    async def _send_file(self, method: str, local: LocalFile, send: Send) -> None:
        sent = 0
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if method == ZERO_COPY:
                with io.FileIO(os.dup(local.fd), "rb") as file:  # the server may close it
                    await send(
                        {
                            "type": ZERO_COPY,
                            "file": file,
                            "offset": local.offset,
                            "count": local.length,
                            "more_body": False,
                        }
                    )
            else:
                await send({"type": PATH_SEND, "path": str(local.path)})
            sent = local.length
        except OSError as exc:  # the client left: nobody to answer; count what it got
            sent = int(getattr(exc, "bytes_sent", 0))
        finally:
            if local.on_sent is not None:
                with anyio.CancelScope(shield=True):
                    await local.on_sent(sent)


def declared_length(start: Message) -> int:
    """The ``Content-Length`` of an ``http.response.start`` message (0 if none)."""
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return 0


def body_bytes(message: Message, declared: int) -> int:
    """Bytes of the body one send message hands the server: a body's length, a zero-copy
    send's count, or for ``pathsend`` (a whole file) the declared length."""
    kind = message["type"]
    if kind == "http.response.body":
        return len(message.get("body", b""))
    if kind == ZERO_COPY:
        return int(message.get("count") or 0)
    if kind == PATH_SEND:
        return declared
    return 0


def is_body(message: Message) -> bool:
    return message["type"] in ("http.response.body", ZERO_COPY, PATH_SEND)


def ends_body(message: Message) -> bool:
    """The last body message of a response (``pathsend`` always is)."""
    return message["type"] == PATH_SEND or (is_body(message) and not message.get("more_body"))
