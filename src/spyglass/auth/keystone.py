"""Keystone token validation, as keystonemiddleware's ``auth_token`` filter does it, in pure ASGI.

:class:`KeystoneAuthMiddleware` sits where upstream's ``authtoken`` filter sits, in front of the
context middleware that reads identity *headers*. For each request it

* removes every identity header the client sent (``X-Roles``, ``X-Project-Id``, ...);
* validates ``X-Auth-Token`` (or ``X-Storage-Token``) with ``GET /v3/auth/tokens`` and
  ``X-Subject-Token``, authenticated by a service token it logs in for (password auth from
  ``[keystone_authtoken]``) and renews before it expires;
* caches each answer, valid or not, under a SHA-256 of the token for ``token_cache_time``
  seconds, and never uses a valid one beyond the token's ``expires_at``; so a revoked token
  may pass until its entry expires, as upstream;
* on success sets the headers keystonemiddleware sets (``X-Identity-Status: Confirmed``,
  ``X-User-Id``, ``X-Project-Id``, ``X-Roles``, ... and the deprecated ``X-Tenant-Id``,
  ``X-Tenant-Name``, ``X-Tenant``, ``X-User``, ``X-Role``), puts the token body in
  ``scope["keystone.token_info"]`` and passes on;
* refuses a missing, invalid or expired token with 401 and ``WWW-Authenticate: Keystone
  uri="..."``, unless ``delay_auth_decision`` is set: then it passes on with
  ``X-Identity-Status: Invalid``;
* answers 503 when Keystone can't be reached or refuses the service user, after
  ``http_request_max_retries`` retries of connection failures, each attempt bounded by
  ``http_connect_timeout`` (10 s when unset: upstream waits for ever).

An ``X-Service-Token`` (a service calling on a user's behalf) is validated too; when it is valid
the user's token may have expired (``allow_expired``), and ``X-Service-*`` headers describe it.

Neither tokens nor passwords are logged; cache keys are hashes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spyglass.auth.keystone_client import IdentityClient, KeystoneUnavailable
from spyglass.auth.keystone_config import (
    IDENTITY_HEADERS,
    MAX_CACHE_ENTRIES,
    MAX_TOKEN_LENGTH,
    SECTION,
    KeystoneAuthConfig,
)
from spyglass.auth.keystone_token import TokenCache, TokenInfo

log = logging.getLogger(__name__)


_UNAUTHORIZED = {
    "error": {
        "code": 401,
        "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}
_UNAVAILABLE = {
    "error": {
        "code": 503,
        "title": "Service Unavailable",
        "message": "The server is currently unavailable. Please try again at a later time.",
    }
}


class KeystoneAuthMiddleware:
    """Validate Keystone tokens and turn them into identity headers (see the module doc).

    ``transport`` replaces the HTTP transport to Keystone (tests); ``exempt_paths`` are passed
    on without a token check (client identity headers are still removed), e.g. ``/`` and
    ``/versions`` when this middleware is placed in front of version discovery.
    ``keystone_requests`` counts the HTTP requests made to Keystone.
    """

    def __init__(
        self,
        app: ASGIApp,
        config: KeystoneAuthConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        exempt_paths: Collection[str] = (),
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.config = config
        self.exempt_paths = frozenset(exempt_paths)
        self.now = now
        self.cache = TokenCache(config.token_cache_time, monotonic, MAX_CACHE_ENTRIES)
        self.identity = IdentityClient(config, transport, now)
        self._www_authenticate = f'Keystone uri="{config.reject_uri}"'.encode("latin-1")
        if not config.www_authenticate_uri:
            log.warning(
                "[%s] www_authenticate_uri is not set; refused clients are sent to auth_url",
                SECTION,
            )

    @property
    def keystone_requests(self) -> int:
        return self.identity.requests

    async def aclose(self) -> None:
        """Close the connections to Keystone (also done at the ASGI lifespan's shutdown)."""
        await self.identity.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_shutdown(receive), send)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw: list[tuple[bytes, bytes]] = list(scope["headers"])
        headers = [(k, v) for k, v in raw if k.lower() not in IDENTITY_HEADERS]
        scope = dict(scope, headers=headers)
        if scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        found = {k.lower(): v.decode("latin-1").strip() for k, v in raw}
        user_token = found.get(b"x-auth-token") or found.get(b"x-storage-token") or None
        service_token = found.get(b"x-service-token") or None
        try:
            user, service, service_ok = await self._authenticate(user_token, service_token)
        except KeystoneUnavailable as exc:
            log.error("Token validation failed, answering 503: %s", exc)
            await self._reply(scope, send, 503, _UNAVAILABLE, ())
            return
        if (user is None or service_ok is False) and not self.config.delay_auth_decision:
            log.info("Rejecting a request to %s: no valid token", scope["path"])
            await self._reply(
                scope, send, 401, _UNAUTHORIZED, [(b"www-authenticate", self._www_authenticate)]
            )
            return
        added: list[tuple[str, str | None]] = [
            ("X-Identity-Status", "Confirmed" if user is not None else "Invalid")
        ]
        if user is not None:
            added += user.user_headers(self.config.include_service_catalog)
            scope["keystone.token_info"] = user.body
        if service_token is not None:
            added.append(("X-Service-Identity-Status", "Confirmed" if service_ok else "Invalid"))
            if service_ok and service is not None:
                added += service.headers("-Service")
        headers += [(k.lower().encode(), v.encode()) for k, v in added if v is not None]
        await self.app(scope, receive, send)

    async def _authenticate(
        self, user_token: str | None, service_token: str | None
    ) -> tuple[TokenInfo | None, TokenInfo | None, bool | None]:
        """(user identity or None, service identity or None, service token accepted or None
        when there was none)."""
        service: TokenInfo | None = None
        service_ok: bool | None = None
        if service_token is not None:
            service = await self._validate(service_token, allow_expired=False)
            service_ok = service is not None
            if service is not None and not self.config.service_token_roles & set(service.roles):
                log.warning(
                    "A service token lacks the roles of [%s] service_token_roles (%s)",
                    SECTION,
                    ",".join(sorted(self.config.service_token_roles)),
                )
                service_ok = not self.config.service_token_roles_required
        user = None
        if user_token is not None:
            user = await self._validate(user_token, allow_expired=bool(service_ok))
        return user, service, service_ok

    async def _validate(self, token: str, allow_expired: bool) -> TokenInfo | None:
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
            return None
        key = self.cache.key(token)
        entry = self.cache.get(key)
        if entry is not None and (
            entry.info is not None or entry.allow_expired or not allow_expired
        ):
            info = entry.info
        else:
            info = await self.identity.validate(token, allow_expired)
            self.cache.put(key, info, allow_expired, self.now())
        if info is None or (not allow_expired and info.expires_at <= self.now()):
            return None
        return info

    def _on_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.aclose()
            return message

        return wrapped

    @staticmethod
    async def _reply(
        scope: Scope,
        send: Send,
        status: int,
        body: Mapping[str, Any],
        extra: Iterable[tuple[bytes, bytes]],
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008 if status == 401 else 1011})
            return
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
