"""Getting a Swift token and storage URL: tempauth/swauth (v1) or Keystone (v2, v3).

Written on the driver's own async httpx client rather than with keystoneauth1,
which is synchronous (requests): a token request is one POST and a catalog
lookup, and doing it here keeps every Swift call on the event loop, on one
connection pool, with one error mapping. Nothing here ever puts a key or a
token into an error message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from spyglass.errors import StoreMisconfigured, StoreUnavailable

DEFAULT_LIFETIME = 3600.0
"""Seconds a token is trusted when the auth service does not say (v1 without
``X-Auth-Token-Expires``)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who the store authenticates as: one reference of ``swift_store_config_file``,
    or the ``swift_store_*`` options."""

    auth_address: str
    user: str
    key: str
    auth_version: str = "2"
    user_domain_id: str | None = "default"
    user_domain_name: str | None = None
    project_domain_id: str | None = "default"
    project_domain_name: str | None = None

    def __repr__(self) -> str:  # never the key, nor the user (a secret option too)
        return f"Credentials(auth_address={self.auth_address!r})"


@dataclass(frozen=True, slots=True)
class Catalog:
    """How to pick the object-store endpoint from a Keystone catalog."""

    service_type: str = "object-store"
    endpoint_type: str = "publicURL"
    region: str | None = None
    endpoint: str | None = None
    """``swift_store_endpoint``: the storage URL, bypassing the catalog."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    storage_url: str
    expires_at: float
    """``time.monotonic()`` seconds after which the token is no longer valid."""

    def __repr__(self) -> str:  # never the token
        return f"Token(storage_url={self.storage_url!r})"

    def expires_within(self, seconds: float) -> bool:
        return time.monotonic() + seconds >= self.expires_at


async def authenticate(
    client: httpx.AsyncClient, creds: Credentials, catalog: Catalog, *, store: str
) -> Token:
    """A fresh token for ``creds``; ``StoreMisconfigured`` when they are refused,
    ``StoreUnavailable`` when the auth service cannot be reached."""
    version = creds.auth_version.strip().lstrip("v")
    try:
        if version in ("1", "1.0"):
            return await _v1(client, creds, catalog, store)
        if version in ("2", "2.0"):
            return await _v2(client, creds, catalog, store)
        if version in ("3", "3.0"):
            return await _v3(client, creds, catalog, store)
    except httpx.HTTPError as exc:
        raise StoreUnavailable(
            f"Swift store {store}: the auth service at {creds.auth_address} cannot be "
            f"reached ({type(exc).__name__})."
        ) from None
    raise StoreMisconfigured(
        f"Swift store {store}: swift_store_auth_version must be 1, 2 or 3, not {version!r}."
    )


def _refused(response: httpx.Response, creds: Credentials, store: str) -> Exception:
    if response.status_code in (401, 403):
        return StoreMisconfigured(
            f"Swift store {store}: the auth service at {creds.auth_address} refused the "
            f"store's credentials ({response.status_code})."
        )
    if response.status_code >= 500:
        return StoreUnavailable(
            f"Swift store {store}: the auth service at {creds.auth_address} failed "
            f"({response.status_code})."
        )
    return StoreMisconfigured(
        f"Swift store {store}: the auth service at {creds.auth_address} answered "
        f"{response.status_code}; check swift_store_auth_address and _auth_version."
    )


async def _v1(client: httpx.AsyncClient, creds: Credentials, catalog: Catalog, store: str) -> Token:
    response = await client.get(
        creds.auth_address, headers={"X-Auth-User": creds.user, "X-Auth-Key": creds.key}
    )
    token = response.headers.get("X-Auth-Token") or response.headers.get("X-Storage-Token")
    if response.status_code >= 300 or not token:
        raise _refused(response, creds, store)
    url = catalog.endpoint or response.headers.get("X-Storage-Url", "")
    if not url:
        raise StoreMisconfigured(f"Swift store {store}: the auth service gave no storage URL.")
    try:
        lifetime = float(response.headers.get("X-Auth-Token-Expires", DEFAULT_LIFETIME))
    except ValueError:
        lifetime = DEFAULT_LIFETIME
    return Token(token, url.rstrip("/"), time.monotonic() + lifetime)


def _tenant_and_user(creds: Credentials) -> tuple[str | None, str]:
    """Keystone users are given as ``project:user`` (upstream's form); a bare user
    gets an unscoped request, which Swift will not accept."""
    project, sep, user = creds.user.rpartition(":")
    return (project, user) if sep else (None, creds.user)


def _versioned(address: str, version: str) -> str:
    base = address.rstrip("/")
    for suffix in ("/v2.0", "/v3"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return f"{base}/{version}"


def v2_request(creds: Credentials) -> tuple[str, dict[str, Any]]:
    """The URL and body of a Keystone v2.0 password token request."""
    project, user = _tenant_and_user(creds)
    auth: dict[str, Any] = {"passwordCredentials": {"username": user, "password": creds.key}}
    if project:
        auth["tenantName"] = project
    return _versioned(creds.auth_address, "v2.0") + "/tokens", {"auth": auth}


def v3_request(creds: Credentials) -> tuple[str, dict[str, Any]]:
    """The URL and body of a Keystone v3 password token request, project-scoped."""
    project, user = _tenant_and_user(creds)
    user_body: dict[str, Any] = {"name": user, "password": creds.key}
    user_body["domain"] = _domain(creds.user_domain_id, creds.user_domain_name)
    body: dict[str, Any] = {
        "auth": {"identity": {"methods": ["password"], "password": {"user": user_body}}}
    }
    if project:
        body["auth"]["scope"] = {
            "project": {
                "name": project,
                "domain": _domain(creds.project_domain_id, creds.project_domain_name),
            }
        }
    return _versioned(creds.auth_address, "v3") + "/auth/tokens", body


def _domain(domain_id: str | None, name: str | None) -> dict[str, str]:
    if name and not domain_id:
        return {"name": name}
    return {"id": domain_id or "default"}


async def _v2(client: httpx.AsyncClient, creds: Credentials, catalog: Catalog, store: str) -> Token:
    url, body = v2_request(creds)
    response = await client.post(url, json=body)
    if response.status_code >= 300:
        raise _refused(response, creds, store)
    access = response.json()["access"]
    endpoints = [
        {"region": e.get("region"), "url": e.get(catalog.endpoint_type)}
        for service in access.get("serviceCatalog", [])
        if service.get("type") == catalog.service_type
        for e in service.get("endpoints", [])
    ]
    return Token(
        access["token"]["id"],
        catalog.endpoint or _pick(endpoints, catalog, store),
        _monotonic_deadline(access["token"].get("expires")),
    )


async def _v3(client: httpx.AsyncClient, creds: Credentials, catalog: Catalog, store: str) -> Token:
    url, body = v3_request(creds)
    response = await client.post(url, json=body)
    token = response.headers.get("X-Subject-Token")
    if response.status_code >= 300 or not token:
        raise _refused(response, creds, store)
    info = response.json()["token"]
    interface = catalog.endpoint_type.removesuffix("URL")
    endpoints = [
        {"region": e.get("region_id") or e.get("region"), "url": e.get("url")}
        for service in info.get("catalog", [])
        if service.get("type") == catalog.service_type
        for e in service.get("endpoints", [])
        if e.get("interface") == interface
    ]
    return Token(
        token,
        catalog.endpoint or _pick(endpoints, catalog, store),
        _monotonic_deadline(info.get("expires_at")),
    )


def _pick(endpoints: list[dict[str, Any]], catalog: Catalog, store: str) -> str:
    for endpoint in endpoints:
        if endpoint["url"] and (catalog.region is None or endpoint["region"] == catalog.region):
            return str(endpoint["url"]).rstrip("/")
    where = f" in region {catalog.region}" if catalog.region else ""
    raise StoreMisconfigured(
        f"Swift store {store}: the catalog has no {catalog.endpoint_type} endpoint of "
        f"type {catalog.service_type}{where}."
    )


def _monotonic_deadline(expires: str | None) -> float:
    """Keystone's ISO 8601 expiry as a ``time.monotonic()`` deadline."""
    if not expires:
        return time.monotonic() + DEFAULT_LIFETIME
    at = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    return time.monotonic() + (at.timestamp() - time.time())
