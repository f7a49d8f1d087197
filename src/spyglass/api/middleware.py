"""Pure-ASGI middleware: request ids, caller context, version negotiation.

Each one does one thing on every request and passes bodies through untouched,
so uploads keep streaming with backpressure.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spyglass import request_ids
from spyglass.api.errors import error_response
from spyglass.context import RequestContext
from spyglass.errors import SpyglassError

REQUEST_ID_HEADER = b"x-openstack-request-id"


class RequestIdMiddleware:
    """Give every request an id and return it as ``x-openstack-request-id``.

    Behind authentication a caller's own ``X-Openstack-Request-ID`` is kept (so
    one id follows a request across services); one longer than
    ``max_request_id_length`` is refused with 431. Everything the request does
    runs with the id bound (``spyglass.request_ids``): its log lines, its
    registry calls, its notifications and the background work it starts.
    """

    def __init__(
        self, app: ASGIApp, *, reuse_caller_id: bool = False, max_length: int = 64
    ) -> None:
        self.app = app
        self.reuse_caller_id = reuse_caller_id
        self.max_length = max_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-openstack-request-id") if self.reuse_caller_id else None
        too_long = given is not None and len(given) > self.max_length
        if given and not too_long:
            request_id = given if given.startswith("req-") else f"req-{given}"
        else:  # a new id only when the caller's is not kept: uuid4 reads the kernel's random
            request_id = f"req-{uuid.uuid4()}"
        scope["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("x-openstack-request-id", request_id)
            await send(message)

        with request_ids.bound(request_id):
            if too_long:
                message = f"Request ID length exceeds the maximum of {self.max_length} characters."
                await error_response(Request(scope), 431, message)(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)


class ContextMiddleware:
    """Attach the caller's ``RequestContext`` (``scope["spyglass.context"]``)."""

    def __init__(self, app: ASGIApp, make_context: Callable[[Scope], RequestContext]) -> None:
        self.app = app
        self.make_context = make_context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(("/v2", "/v1")):
            try:
                scope["spyglass.context"] = self.make_context(scope)
            except SpyglassError as exc:
                await error_response(Request(scope), exc.http_status, exc.message)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


_VERSIONED = re.compile(r"^/v([0-9]+)(?:\.([0-9]+))?(/.*)?\Z", re.DOTALL)


_UNVERSIONED = frozenset({"/", "/versions", "/healthcheck", "/openapi.json"})


class VersionNegotiationMiddleware:
    """Route ``/v2.N/...`` to ``/v2/...`` and, with ``v1``, ``/v1.0`` and ``/v1.1`` to
    ``/v1``; anything else (or an API that is off) gets the versions document (300)."""

    def __init__(
        self,
        app: ASGIApp,
        accepted: Callable[[], frozenset[str]],
        versions_app: ASGIApp,
        *,
        v1: bool = False,
        v2: bool = True,
    ) -> None:
        self.app = app
        self.accepted = accepted
        self.versions_app = versions_app
        self.v1 = v1
        self.v2 = v2

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = _VERSIONED.match(scope["path"])
            if match:
                major, minor, rest = match.groups()
                version = f"v{major}" + (f".{minor}" if minor is not None else "")
                if major == "1" and self.v1 and minor in (None, "0", "1"):
                    scope["path"] = "/v1" + (rest or "/")
                    scope["raw_path"] = scope["path"].encode()
                    await self.app(scope, receive, send)
                    return
                if (
                    major != "2"
                    or not self.v2
                    or (minor is not None and version not in self.accepted())
                ):
                    await self.versions_app(scope, receive, send)
                    return
                if minor is not None:  # ``/v2/...`` is already where it goes
                    scope["path"] = "/v2" + (rest or "")
                    scope["raw_path"] = scope["path"].encode()
            elif scope["path"] not in _UNVERSIONED:
                await self.versions_app(scope, receive, send)
                return
        await self.app(scope, receive, send)
