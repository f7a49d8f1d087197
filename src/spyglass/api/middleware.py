"""Pure-ASGI middleware: request ids, caller context, version negotiation.

Each one does one thing on every request and passes bodies through untouched,
so uploads keep streaming with backpressure.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spyglass.context import RequestContext

REQUEST_ID_HEADER = b"x-openstack-request-id"


class RequestIdMiddleware:
    """Give every request an id and return it as ``x-openstack-request-id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}"
        scope["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("x-openstack-request-id", request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)


class ContextMiddleware:
    """Attach the caller's ``RequestContext`` (``scope["spyglass.context"]``)."""

    def __init__(self, app: ASGIApp, make_context: Callable[[Scope], RequestContext]) -> None:
        self.app = app
        self.make_context = make_context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["spyglass.context"] = self.make_context(scope)
        await self.app(scope, receive, send)


def unauthenticated_context(scope: Scope) -> RequestContext:
    """Upstream's no-auth mode: every caller is an admin with no project."""
    return RequestContext.unauthenticated(scope.get("request_id", ""))


_VERSIONED = re.compile(r"^/v(\d+)(?:\.(\d+))?(/.*)?$")


_UNVERSIONED = frozenset({"/", "/versions", "/healthcheck"})


class VersionNegotiationMiddleware:
    """Route ``/v2.N/...`` to ``/v2/...``; anything else gets the versions document (300)."""

    def __init__(
        self, app: ASGIApp, accepted: Callable[[], frozenset[str]], versions_app: ASGIApp
    ) -> None:
        self.app = app
        self.accepted = accepted
        self.versions_app = versions_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = _VERSIONED.match(scope["path"])
            if match:
                major, minor, rest = match.groups()
                version = f"v{major}" + (f".{minor}" if minor is not None else "")
                if major != "2" or (minor is not None and version not in self.accepted()):
                    await self.versions_app(scope, receive, send)
                    return
                scope["path"] = "/v2" + (rest or "")
                scope["raw_path"] = scope["path"].encode()
            elif scope["path"] not in _UNVERSIONED:
                await self.versions_app(scope, receive, send)
                return
        await self.app(scope, receive, send)
