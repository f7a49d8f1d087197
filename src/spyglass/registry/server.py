"""``spyglass registry``'s application: the repository ports over HTTP(S).

One adapter more over the same SQL repositories the API server uses directly: each
``POST /rpc/<call>`` decodes the arguments (``protocol``), runs the repository
method and encodes its result or its error. It never sees image data. Writes record
their notification events in this process's outbox, which this process's publisher
delivers, so ``glance-registry.conf`` holds the notification settings.

A call made for a request carries its id; the registry works (logs, records events) under
that id and answers with it, and writes one access line per call, as the API server does.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from spyglass.api.access_log import AccessLogMiddleware
from spyglass.api.app import build_outbox, database_url, publishing
from spyglass.api.middleware import RequestIdMiddleware
from spyglass.config import Settings
from spyglass.db.engine import PoolOptions, create_database
from spyglass.errors import BadRequest, NotFound, SpyglassError
from spyglass.notify.base import notify_config
from spyglass.registry.protocol import CALLS, Call, encode_error
from spyglass.registry.repositories import Repositories, sql_repositories
from spyglass.registry.trust import Trust, TrustMiddleware

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[Any]]


RPC = "/rpc/"


def _error(exc: SpyglassError) -> tuple[int, bytes]:
    return exc.http_status, encode_error(exc)


class RpcEndpoint:
    """Runs calls against one set of repositories.

    A plain ASGI app rather than a Starlette route: every API request is one or more calls
    here, and Starlette's router, request and response objects and exception layers were
    about a seventh of the registry's CPU per call (a py-spy profile of shows at c=32).
    """

    def __init__(self, repositories: Repositories) -> None:
        self.handlers: dict[str, tuple[Call, Handler]] = {}
        for name, call in CALLS.items():
            port = getattr(repositories, call.port)
            if port is not None:
                self.handlers[name] = (call, getattr(port, call.method))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json")]
        if scope["method"] != "POST":
            status, content = 405, encode_error(BadRequest("registry calls are POSTs"))
            headers.append((b"allow", b"POST"))  # RFC 9110: a 405 names the methods allowed
        else:
            body = await _body(receive)
            status, content = await self.answer(scope["path"].removeprefix(RPC), body)
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def answer(self, name: str, body: bytes) -> tuple[int, bytes]:
        """The status and JSON body of one call."""
        if name not in self.handlers:
            return _error(NotFound(f"the registry has no call {name!r}"))
        call, handler = self.handlers[name]
        try:
            args = call.decode_args(body)
            result = await call.run(handler, args)
        except BadRequest as exc:
            log.warning("refused a malformed %s call: %s", name, exc.message)
            return _error(exc)
        except SpyglassError as exc:
            if exc.http_status >= 500:
                log.error("%s failed: %s", name, exc.message)
            return _error(exc)
        except Exception:
            log.exception("%s failed unexpectedly", name)
            return _error(SpyglassError("The registry failed to complete the call."))
        return 200, call.encode_result(result)


async def _body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


class Dispatch:
    """``POST /rpc/<call>`` to the endpoint; the rest (health check, lifespan) to Starlette."""

    def __init__(self, endpoint: RpcEndpoint, other: ASGIApp) -> None:
        self.endpoint = endpoint
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(RPC):
            await self.endpoint(scope, receive, send)
        else:
            await self.other(scope, receive, send)


async def healthcheck(request: Request) -> Response:
    return PlainTextResponse("OK")


def build_registry_app(settings: Settings, *, data_dir: Path = Path("data")) -> ASGIApp:
    """The registry server over the configured database (``[database] connection``)."""
    trust = Trust.from_settings(settings)
    pool = PoolOptions.from_settings(settings)
    database = create_database(database_url(settings, data_dir), pool)
    notifications = notify_config(settings)
    outbox = build_outbox(notifications, database)
    endpoint = RpcEndpoint(sql_repositories(database, outbox))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with publishing(notifications, database, outbox):
                yield
        finally:
            await database.dispose()

    app: ASGIApp = Dispatch(
        endpoint, Starlette(routes=[Route("/healthcheck", healthcheck)], lifespan=lifespan)
    )
    for middleware in reversed(_middleware(settings, trust)):
        app = middleware.cls(app, *middleware.args, **middleware.kwargs)
    return app


def _middleware(settings: Settings, trust: Trust) -> list[Middleware]:
    """The caller's request id and the access line outermost (refusals are logged too), then
    Keystone's token check (when trusted) outside the trust check that reads its result.

    Only trusted API servers get past the trust check, but the id is taken before it: an
    untrusted caller's id only labels the line that records its refusal.
    """
    stack = [
        Middleware(
            RequestIdMiddleware, reuse_caller_id=True, max_length=settings.max_request_id_length
        ),
        Middleware(AccessLogMiddleware),
    ]
    if trust.keystone:
        from spyglass.auth.keystone import KeystoneAuthMiddleware
        from spyglass.auth.keystone_config import KeystoneAuthConfig

        stack.append(
            Middleware(
                KeystoneAuthMiddleware,
                config=KeystoneAuthConfig.from_settings(settings),
                exempt_paths={"/healthcheck"},
            )
        )
    stack.append(Middleware(TrustMiddleware, trust=trust))
    return stack
