"""``GET /metrics`` and the middleware that counts every request for it (``[metrics] enabled``).

The middleware is outermost and answers ``/metrics`` itself, before version negotiation and
authentication: scrapers carry no token (restrict the path at the proxy or firewall). It is pure
ASGI, so streamed uploads and downloads keep streaming: bytes are counted as the body messages
pass. The handler label is the endpoint's name, which Starlette's router records in the request
scope, so the label set stays small whatever ids the paths carry.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spyglass import metrics
from spyglass.api.data_response import body_bytes, declared_length, is_body
from spyglass.db.engine import Database
from spyglass.db.outbox import read_backlog

Endpoint = Callable[[Request], Awaitable[Response]]


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, outbox_database: Database | None = None) -> None:
        self.app = app
        self.scrape = metrics_endpoint(outbox_database)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics" and scope["method"] in ("GET", "HEAD"):
            response = await self.scrape(Request(scope, receive))
            await response(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        declared = 0

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                metrics.BYTES.labels("in").inc(len(message.get("body", b"")))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, declared
            if message["type"] == "http.response.start":
                status = message["status"]
                declared = declared_length(message)
            elif is_body(message):
                metrics.BYTES.labels("out").inc(body_bytes(message, declared))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            endpoint = scope.get("endpoint")
            handler = getattr(endpoint, "__name__", None) or "unmatched"
            method = scope["method"]
            metrics.REQUESTS.labels(method, handler, str(status)).inc()
            metrics.REQUEST_SECONDS.labels(method, handler).observe(time.perf_counter() - started)


def metrics_endpoint(outbox_database: Database | None) -> Endpoint:
    """The scrape handler; ``outbox_database`` when notifications are on (the backlog is read
    at scrape time, so it is current whichever worker answers)."""

    async def metrics_text(request: Request) -> Response:
        if outbox_database is not None:
            metrics.OUTBOX_BACKLOG.set((await read_backlog(outbox_database)).waiting)
        body = await anyio.to_thread.run_sync(metrics.exposition)
        return Response(body, media_type=metrics.CONTENT_TYPE_LATEST)

    return metrics_text
