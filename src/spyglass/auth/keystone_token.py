"""A validated token: what Keystone said about it, and a cache of such answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


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


class TokenCache:
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
