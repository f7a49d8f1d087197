"""What the Keystone middleware reads from ``[keystone_authtoken]``, and the
identity headers it owns."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from spyglass.config import Settings
from spyglass.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
"""Seconds allowed to each Keystone request when ``http_connect_timeout`` is unset."""

RENEW_BEFORE = 120.0
"""The service token is renewed this many seconds before it expires (keystoneauth's margin)."""

MAX_CACHE_ENTRIES = 10_000
MAX_TOKEN_LENGTH = 8192

SECTION = "keystone_authtoken"

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
            raise ConfigError(f"[{SECTION}] username: the service user is not set")
        if not self.password:
            raise ConfigError(f"[{SECTION}] password: the service user's password is not set")
        if not self.auth_url.startswith(("http://", "https://")):
            raise ConfigError(f"[{SECTION}] auth_url: not an http(s) URL: {self.auth_url!r}")

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
            return settings.option(SECTION, name)

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
                f"[{SECTION}] auth_type: {auth_type!r} is not supported; "
                "use password (with auth_url, username, password, project_name, ...)"
            )
        auth_url = text("auth_url")
        if auth_url is None:
            raise ConfigError(f"[{SECTION}] auth_url: Keystone's URL is not set")
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
