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

import asyncio
import hashlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spyglass.config import Settings
from spyglass.errors import ConfigError

__all__ = [
    "IDENTITY_HEADERS",
    "KeystoneAuthConfig",
    "KeystoneAuthMiddleware",
    "KeystoneUnavailable",
    "TokenInfo",
]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
"""Seconds allowed to each Keystone request when ``http_connect_timeout`` is unset."""

RENEW_BEFORE = 120.0
"""The service token is renewed this many seconds before it expires (keystoneauth's margin)."""

MAX_CACHE_ENTRIES = 10_000
MAX_TOKEN_LENGTH = 8192

_SECTION = "keystone_authtoken"

_TEMPLATES = (
    "x%s-domain-id",
    "x%s-domain-name",
    "x%s-project-id",
    "x%s-project-name",
    "x%s-project-domain-id",
    "x%s-project-domain-name",
    "x%s-user-id",
    "x%s-user-name",
    "x%s-user-domain-id",
    "x%s-user-domain-name",
    "x%s-roles",
    "x%s-system-scope",
    "x%s-identity-status",
    "x%s-app-cred-id",
)
IDENTITY_HEADERS: frozenset[bytes] = frozenset(
    (t % prefix).encode() for t in _TEMPLATES for prefix in ("", "-service")
) | frozenset(
    h.encode()
    for h in (
        "x-tenant-id",
        "x-tenant-name",
        "x-tenant",
        "x-user",
        "x-role",
        "x-is-admin-project",
        "x-service-catalog",
        "x-auth-token-info",
        "x-trust-id",
    )
)
"""Lower-case names of the headers this middleware owns; a client's copies are removed."""


class KeystoneUnavailable(Exception):
    """Keystone could not answer (unreachable, timed out, or it refused the service user)."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class KeystoneAuthConfig:
    """What the middleware needs from ``[keystone_authtoken]``.

    ``auth_url`` is Keystone's URL with or without ``/v3``. The service user is named by
    ``username`` (plus ``user_domain_id``/``user_domain_name``, default domain ``default``) or
    ``user_id``; it is scoped to ``project_name``/``project_id`` (the project's domain likewise),
    or to the system (``system_scope = all``) or a trust.
    """

    auth_url: str
    password: str = field(repr=False)
    username: str | None = None
    user_id: str | None = None
    user_domain_id: str | None = None
    user_domain_name: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    project_domain_id: str | None = None
    project_domain_name: str | None = None
    system_scope: str | None = None
    trust_id: str | None = None
    www_authenticate_uri: str | None = None
    delay_auth_decision: bool = False
    http_connect_timeout: float | None = None
    http_request_max_retries: int = 3
    token_cache_time: int = 300
    include_service_catalog: bool = True
    service_token_roles: frozenset[str] = frozenset({"service"})
    service_token_roles_required: bool = False
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if not (self.username or self.user_id):
            raise ConfigError(f"[{_SECTION}] username: the service user is not set")
        if not self.password:
            raise ConfigError(f"[{_SECTION}] password: the service user's password is not set")
        if not self.auth_url.startswith(("http://", "https://")):
            raise ConfigError(f"[{_SECTION}] auth_url: not an http(s) URL: {self.auth_url!r}")

    @property
    def identity_url(self) -> str:
        """Keystone's v3 API root, e.g. ``http://127.0.0.1:35357/v3``."""
        url = self.auth_url.rstrip("/")
        if url.endswith("/v3"):
            return url
        if url.endswith("/v2.0"):
            return url[: -len("/v2.0")] + "/v3"
        return url + "/v3"

    @property
    def reject_uri(self) -> str:
        """Where a refused client should get a token (the ``WWW-Authenticate`` header)."""
        return self.www_authenticate_uri or self.auth_url

    @property
    def timeout(self) -> float:
        return float(self.http_connect_timeout or DEFAULT_TIMEOUT)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeystoneAuthConfig:
        """Read ``[keystone_authtoken]``: ``auth_type = password`` (or ``v3password``) with its
        options, or the classic ``identity_uri``/``auth_host``... with ``admin_user``,
        ``admin_password`` and ``admin_tenant_name``. Raises :class:`ConfigError`."""

        def value(name: str) -> object:
            return settings.option(_SECTION, name)

        def text(name: str) -> str | None:
            v = value(name)
            return str(v) if v is not None and str(v) != "" else None

        def integer(name: str, default: int) -> int:
            v = value(name)
            return v if isinstance(v, int) and not isinstance(v, bool) else default

        def flag(name: str) -> bool:
            return value(name) is True

        roles = value("service_token_roles")
        common: dict[str, Any] = {
            "www_authenticate_uri": text("www_authenticate_uri"),
            "delay_auth_decision": flag("delay_auth_decision"),
            "http_connect_timeout": value("http_connect_timeout"),
            "http_request_max_retries": max(0, integer("http_request_max_retries", 3)),
            "token_cache_time": integer("token_cache_time", 300),
            "include_service_catalog": flag("include_service_catalog"),
            "service_token_roles": frozenset(
                str(r) for r in (roles if isinstance(roles, Iterable) else ("service",))
            ),
            "service_token_roles_required": flag("service_token_roles_required"),
            "cafile": text("cafile"),
            "certfile": text("certfile"),
            "keyfile": text("keyfile"),
            "insecure": flag("insecure"),
        }
        auth_type = text("auth_type")
        if auth_type is None and text("admin_user"):
            identity = text("identity_uri") or (
                f"{text('auth_protocol') or 'https'}://{text('auth_host') or '127.0.0.1'}"
                f":{integer('auth_port', 35357)}{text('auth_admin_prefix') or ''}"
            )
            return cls(
                auth_url=identity,
                password=text("admin_password") or "",
                username=text("admin_user"),
                user_domain_id="default",
                project_name=text("admin_tenant_name") or "admin",
                project_domain_id="default",
                **common,
            )
        if auth_type not in ("password", "v3password"):
            raise ConfigError(
                f"[{_SECTION}] auth_type: {auth_type!r} is not supported; "
                "use password (with auth_url, username, password, project_name, ...)"
            )
        auth_url = text("auth_url")
        if auth_url is None:
            raise ConfigError(f"[{_SECTION}] auth_url: Keystone's URL is not set")
        return cls(
            auth_url=auth_url,
            password=text("password") or "",
            username=text("username"),
            user_id=text("user_id"),
            user_domain_id=text("user_domain_id"),
            user_domain_name=text("user_domain_name"),
            project_name=text("project_name"),
            project_id=text("project_id"),
            project_domain_id=text("project_domain_id"),
            project_domain_name=text("project_domain_name"),
            system_scope=text("system_scope"),
            trust_id=text("trust_id"),
            **common,
        )

    def password_auth_body(self) -> dict[str, Any]:
        """The ``POST /v3/auth/tokens`` body that logs the service user in."""
        user: dict[str, Any] = {"password": self.password}
        if self.user_id:
            user["id"] = self.user_id
        else:
            user["name"] = self.username
            user["domain"] = _domain(self.user_domain_id, self.user_domain_name)
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": user}}}
        if self.trust_id:
            auth["scope"] = {"OS-TRUST:trust": {"id": self.trust_id}}
        elif self.system_scope:
            auth["scope"] = {"system": {"all": True}}
        elif self.project_id:
            auth["scope"] = {"project": {"id": self.project_id}}
        elif self.project_name:
            domain = _domain(self.project_domain_id, self.project_domain_name)
            auth["scope"] = {"project": {"name": self.project_name, "domain": domain}}
        return {"auth": auth}


def _domain(domain_id: str | None, domain_name: str | None) -> dict[str, str]:
    if domain_id:
        return {"id": domain_id}
    if domain_name:
        return {"name": domain_name}
    return {"id": "default"}


# --------------------------------------------------------------------------- token data


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """The identity a validated token carries (Keystone v3 ``token`` object)."""

    expires_at: float
    """POSIX seconds."""
    user_id: str | None
    user_name: str | None
    user_domain_id: str | None
    user_domain_name: str | None
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    project_domain_name: str | None
    domain_id: str | None
    domain_name: str | None
    system_scope: str | None
    roles: tuple[str, ...]
    is_admin_project: bool
    app_cred_id: str | None
    body: Mapping[str, Any] = field(repr=False)
    """Keystone's whole answer, ``{"token": {...}}``."""

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> TokenInfo:
        """Parse ``GET /v3/auth/tokens``'s answer; raises ValueError/KeyError/TypeError."""
        token = body["token"]
        user = token.get("user") or {}
        project = token.get("project") or {}
        domain = token.get("domain") or {}
        system = token.get("system") or {}
        app_cred = token.get("application_credential") or {}
        expires = datetime.fromisoformat(str(token["expires_at"])).timestamp()

        def name(obj: Mapping[str, Any], key: str) -> str | None:
            v = obj.get(key)
            return str(v) if v is not None else None

        return cls(
            expires_at=expires,
            user_id=name(user, "id"),
            user_name=name(user, "name"),
            user_domain_id=name(user.get("domain") or {}, "id"),
            user_domain_name=name(user.get("domain") or {}, "name"),
            project_id=name(project, "id"),
            project_name=name(project, "name"),
            project_domain_id=name(project.get("domain") or {}, "id"),
            project_domain_name=name(project.get("domain") or {}, "name"),
            domain_id=name(domain, "id"),
            domain_name=name(domain, "name"),
            system_scope="all" if system.get("all") else None,
            roles=tuple(str(r["name"]) for r in token.get("roles") or ()),
            # keystoneauth's reading: absent means Keystone has no admin project configured
            is_admin_project=bool(token.get("is_admin_project", True)),
            app_cred_id=name(app_cred, "id"),
            body=body,
        )

    def headers(self, prefix: str = "") -> list[tuple[str, str | None]]:
        """Identity headers with ``prefix`` (``""`` or ``"-Service"``); None values are omitted."""
        return [
            (f"X{prefix}-Domain-Id", self.domain_id),
            (f"X{prefix}-Domain-Name", self.domain_name),
            (f"X{prefix}-Project-Id", self.project_id),
            (f"X{prefix}-Project-Name", self.project_name),
            (f"X{prefix}-Project-Domain-Id", self.project_domain_id),
            (f"X{prefix}-Project-Domain-Name", self.project_domain_name),
            (f"X{prefix}-User-Id", self.user_id),
            (f"X{prefix}-User-Name", self.user_name),
            (f"X{prefix}-User-Domain-Id", self.user_domain_id),
            (f"X{prefix}-User-Domain-Name", self.user_domain_name),
            (f"X{prefix}-System-Scope", self.system_scope),
            (f"X{prefix}-App-Cred-Id", self.app_cred_id),
            (f"X{prefix}-Roles", ",".join(self.roles)),
        ]

    def user_headers(self, include_catalog: bool) -> list[tuple[str, str | None]]:
        """What keystonemiddleware sets for a valid user token."""
        headers = [
            *self.headers(),
            ("X-Is-Admin-Project", str(self.is_admin_project)),
            # deprecated spellings, still set by keystonemiddleware
            ("X-User", self.user_name),
            ("X-Tenant-Id", self.project_id),
            ("X-Tenant-Name", self.project_name),
            ("X-Tenant", self.project_name),
            ("X-Role", ",".join(self.roles)),
        ]
        catalog = self.body["token"].get("catalog")
        if include_catalog and catalog is not None:
            headers.append(("X-Service-Catalog", json.dumps(v2_catalog(catalog))))
        return headers


def v2_catalog(catalog: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A v3 catalog in the v2 shape ``X-Service-Catalog`` has always had (keystonemiddleware's
    ``_v3_to_v2_catalog``): one entry per region holding ``publicURL``, ``internalURL``..."""
    services: list[dict[str, Any]] = []
    for service in catalog:
        entry: dict[str, Any] = {"type": service.get("type")}
        if "name" in service:
            entry["name"] = service["name"]
        regions: dict[str | None, dict[str, str]] = {}
        for endpoint in service.get("endpoints") or ():
            region_name = endpoint.get("region")
            region = regions.setdefault(region_name, {"region": region_name} if region_name else {})
            region[str(endpoint.get("interface", "")).lower() + "URL"] = str(endpoint.get("url"))
        entry["endpoints"] = list(regions.values())
        services.append(entry)
    return services


# --------------------------------------------------------------------------- cache


@dataclass(slots=True)
class _Entry:
    deadline: float
    """Monotonic seconds after which the entry is gone."""
    info: TokenInfo | None
    """None: Keystone said the token is not valid."""
    allow_expired: bool
    """The lookup that made the entry accepted expired tokens."""


class _TokenCache:
    """A small TTL cache keyed by the SHA-256 of the token (the token itself is never kept)."""

    def __init__(self, ttl: float, monotonic: Callable[[], float], max_entries: int) -> None:
        self.ttl = ttl
        self.monotonic = monotonic
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}

    @staticmethod
    def key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()

    def get(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.deadline <= self.monotonic():
            del self._entries[key]
            return None
        return entry

    def put(self, key: str, info: TokenInfo | None, allow_expired: bool, wall_now: float) -> None:
        if self.ttl <= 0:
            return
        now = self.monotonic()
        lifetime = self.ttl
        if info is not None and info.expires_at > wall_now:
            lifetime = min(lifetime, info.expires_at - wall_now)
        self._entries.pop(key, None)
        self._entries[key] = _Entry(now + lifetime, info, allow_expired)
        if len(self._entries) > self.max_entries:
            self._prune(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if e.deadline <= now]:
            del self._entries[key]
        while len(self._entries) > self.max_entries:  # the oldest go first
            del self._entries[next(iter(self._entries))]

    def __len__(self) -> int:
        return len(self._entries)


# --------------------------------------------------------------------------- Keystone client


class _IdentityClient:
    """Talks to Keystone: the service user's token, and validation of other tokens."""

    def __init__(
        self,
        config: KeystoneAuthConfig,
        transport: httpx.AsyncBaseTransport | None,
        now: Callable[[], float],
    ) -> None:
        self.config = config
        self.transport = transport
        self.now = now
        self.requests = 0
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._service_token: str | None = None
        self._service_expires = 0.0

    def _http(self) -> httpx.AsyncClient:
        # One client per event loop: a pooled connection belongs to the loop that opened it
        # (tests run one loop per test; a server runs one loop).
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            verify: ssl.SSLContext | bool = True
            if self.config.insecure:
                verify = False
            elif self.config.cafile or self.config.certfile:
                verify = ssl.create_default_context(cafile=self.config.cafile)
                if self.config.certfile:
                    verify.load_cert_chain(self.config.certfile, self.config.keyfile)
            self._client = httpx.AsyncClient(
                transport=self.transport,
                timeout=httpx.Timeout(self.config.timeout),
                verify=verify,
                trust_env=False,
                headers={"User-Agent": "spyglass-keystone-auth", "Accept": "application/json"},
            )
            self._loop = loop
            self._lock = asyncio.Lock()
        return self._client

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; connection failures are retried ``http_request_max_retries`` times."""
        retries = self.config.http_request_max_retries
        for attempt in range(retries + 1):
            self.requests += 1
            try:
                return await self._http().request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if attempt == retries:
                    raise KeystoneUnavailable(f"cannot reach Keystone at {url}: {exc!r}") from exc
                log.info("Keystone at %s: %r; retrying", url, exc)
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
            except httpx.HTTPError as exc:
                raise KeystoneUnavailable(f"Keystone at {url}: {exc!r}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def service_token(self) -> str:
        """The service user's token, logged in for (again) when it is near its end."""
        self._http()  # binds the lock to the running loop
        async with self._lock:
            if self._service_token is not None and self.now() < self._service_expires:
                return self._service_token
            url = f"{self.config.identity_url}/auth/tokens"
            response = await self._send(
                "POST", url, params={"nocatalog": ""}, json=self.config.password_auth_body()
            )
            if response.status_code != 201:
                who = self.config.username or self.config.user_id
                raise KeystoneUnavailable(
                    f"Keystone refused to log in the service user {who!r} "
                    f"({response.status_code}); check [{_SECTION}]"
                )
            token: str | None = response.headers.get("X-Subject-Token")
            try:
                expires = datetime.fromisoformat(response.json()["token"]["expires_at"])
            except (ValueError, KeyError, TypeError) as exc:
                raise KeystoneUnavailable("Keystone's login answer is malformed") from exc
            if not token:
                raise KeystoneUnavailable("Keystone's login answer has no X-Subject-Token")
            lifetime = expires.timestamp() - self.now()
            self._service_token = token
            self._service_expires = self.now() + max(
                0.0, lifetime - min(RENEW_BEFORE, lifetime / 2)
            )
            return token

    def forget_service_token(self, token: str) -> None:
        if self._service_token == token:
            self._service_token = None

    async def validate(self, token: str, allow_expired: bool) -> TokenInfo | None:
        """Keystone's view of ``token``: its identity, or None when it is not valid."""
        params: dict[str, str] = {}
        if not self.config.include_service_catalog:
            params["nocatalog"] = ""
        if allow_expired:
            params["allow_expired"] = "1"
        url = f"{self.config.identity_url}/auth/tokens"
        for attempt in range(2):
            service = await self.service_token()
            response = await self._send(
                "GET",
                url,
                params=params,
                headers={"X-Auth-Token": service, "X-Subject-Token": token},
            )
            if response.status_code == 200:
                try:
                    return TokenInfo.from_body(response.json())
                except (ValueError, KeyError, TypeError) as exc:
                    raise KeystoneUnavailable("Keystone's validation answer is malformed") from exc
            if response.status_code == 404:
                return None
            if response.status_code == 401 and attempt == 0:
                log.info("Keystone rejected the service token; logging in again")
                self.forget_service_token(service)
                continue
            break
        raise KeystoneUnavailable(
            f"Keystone answered {response.status_code} to a token validation"
            + (
                " (the service user needs the service or admin role)"
                if response.status_code in (401, 403)
                else ""
            )
        )


# --------------------------------------------------------------------------- middleware


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
        self.cache = _TokenCache(config.token_cache_time, monotonic, MAX_CACHE_ENTRIES)
        self.identity = _IdentityClient(config, transport, now)
        self._www_authenticate = f'Keystone uri="{config.reject_uri}"'.encode("latin-1")
        if not config.www_authenticate_uri:
            log.warning(
                "[%s] www_authenticate_uri is not set; refused clients are sent to auth_url",
                _SECTION,
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
                    _SECTION,
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
