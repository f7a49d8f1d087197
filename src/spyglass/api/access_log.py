"""One log line per request: client, method, path, status, bytes sent, duration.

Pure ASGI, so that streamed downloads keep streaming: the byte count is the sum of the body
messages actually handed to the server, and the line is written when the last one has gone (or
when the app fails, marked ``failed: <exception class>``, or the response stops short, marked
``incomplete``). It sits just inside the
request-id middleware, so it sees the id and the path as the client sent it, before version
negotiation rewrites ``/v2.1/...``. The request id is the line's own, as on every line written
for a request (``logs.RequestIdFilter``), so the message does not repeat it.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spyglass.api.data_response import body_bytes, declared_length, ends_body, is_body

__all__ = ["AccessLogMiddleware"]

log = logging.getLogger("spyglass.access")


class AccessLogMiddleware:
    """Log ``127.0.0.1 "GET /v2/images HTTP/1.1" status: 200 len: 42 time: 0.0031``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        line = _request_line(scope)
        status = 0
        sent = 0
        declared = 0
        done = False

        async def counting_send(message: Message) -> None:
            nonlocal status, sent, declared, done
            if message["type"] == "http.response.start":
                status = message["status"]
                declared = declared_length(message)
            elif is_body(message):
                sent += body_bytes(message, declared)
                done = ends_body(message)
            await send(message)

        failure = ""
        try:
            await self.app(scope, receive, counting_send)
        except BaseException as exc:  # logged here, handled (500) further out
            failure = f" failed: {type(exc).__name__}"
            raise
        finally:
            log.info(
                "%s status: %s len: %d time: %.4f%s",
                line,
                status or 500,
                sent,
                time.perf_counter() - started,
                failure or ("" if done else " incomplete"),
            )


def _request_line(scope: Scope) -> str:
    client = scope.get("client")
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    target = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    version = scope.get("http_version", "1.1")
    return f'{client[0] if client else "-"} "{scope["method"]} {target} HTTP/{version}"'
