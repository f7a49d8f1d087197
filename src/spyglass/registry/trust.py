"""Who may call the registry: only callers it is configured to trust.

The registry holds every project's metadata and applies no policy of its own (the
API servers do, once, in ``services``), so it serves API servers, not users. It
trusts, and requires every one of, what ``glance-registry.conf`` configures:

* ``registry_auth_token``: the shared secret API servers send as
  ``X-Registry-Auth-Token`` (compared in constant time);
* ``ca_file`` with ``cert_file``/``key_file``: TLS then requires a client certificate
  signed by that CA, so a connection that reaches the application already proved it;
* ``[paste_deploy] flavor = keystone``: an ``X-Auth-Token`` Keystone confirms, whose
  roles include ``admin_role`` or ``service`` (the API servers' service user).

With none of them the registry refuses to start: unlike upstream's unauthenticated
registry pipeline, it never serves everyone's metadata to anyone who can connect.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from spyglass.config import Settings
from spyglass.errors import ConfigError

TOKEN_HEADER = "X-Registry-Auth-Token"
SERVICE_ROLES = frozenset({"service"})


@dataclass(frozen=True, slots=True)
class Trust:
    token: str | None
    certificates: bool
    keystone: bool
    admin_role: str = "admin"

    @classmethod
    def from_settings(cls, settings: Settings) -> Trust:
        token = settings.option("DEFAULT", "registry_auth_token")
        certificates = bool(settings.option("DEFAULT", "ca_file"))
        if certificates and not settings.option("DEFAULT", "cert_file"):
            raise ConfigError("ca_file (client certificates) needs cert_file and key_file (TLS)")
        flavor = (settings.flavor or "").split("+", 1)[0].strip()
        trust = cls(
            token=str(token) if token else None,
            certificates=certificates,
            keystone=flavor == "keystone",
            admin_role=str(settings.option("DEFAULT", "admin_role")),
        )
        if not (trust.token or trust.certificates or trust.keystone):
            raise ConfigError(
                "the registry trusts no caller: set registry_auth_token, ca_file (TLS client "
                "certificates) or [paste_deploy] flavor = keystone in glance-registry.conf"
            )
        return trust

    def describe(self) -> str:
        parts = [
            "a shared registry_auth_token" if self.token else "",
            "client certificates from ca_file" if self.certificates else "",
            f"Keystone tokens with role {self.admin_role} or service" if self.keystone else "",
        ]
        return " and ".join(p for p in parts if p)

    def refusal(self, headers: Headers) -> str | None:
        """Why this request is not trusted, or ``None`` when it is."""
        if self.token is not None:
            given = headers.get(TOKEN_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return "missing or wrong X-Registry-Auth-Token"
        if self.keystone:
            if headers.get("x-identity-status", "").lower() != "confirmed":
                return "no valid Keystone token"
            roles = {r.strip().lower() for r in headers.get("x-roles", "").split(",")}
            if not roles & ({self.admin_role} | SERVICE_ROLES):
                return f"the token's roles include neither {self.admin_role} nor service"
        return None


class TrustMiddleware:
    """Answers 401 to any caller the registry does not trust (``/healthcheck`` is open)."""

    def __init__(self, app: ASGIApp, trust: Trust) -> None:
        self.app = app
        self.trust = trust

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthcheck":
            await self.app(scope, receive, send)
            return
        reason = self.trust.refusal(Headers(scope=scope))
        if reason is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": {"class": "Unauthorized", "message": reason}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())],
            }
        )  # fmt: skip
        await send({"type": "http.response.body", "body": body})
