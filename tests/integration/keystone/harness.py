"""A small typed API over a real Keystone's REST API, for tests.

``scripts/keystone.sh start`` runs Keystone on 127.0.0.1 and provisions the accounts below;
:class:`KeystoneHarness` logs them in, looks things up, revokes tokens, makes short-lived tokens
and points the catalog's ``image`` endpoint at a Spyglass server. Every call goes to loopback with
``trust_env=False`` (no proxies from the environment).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "keystone.sh"
DEFAULT_PORT = 35357


def keystone_port() -> int:
    return int(os.environ.get("KEYSTONE_PORT", DEFAULT_PORT))


def keystone_url() -> str:
    """Where ``scripts/keystone.sh`` serves Keystone (no ``/v3``)."""
    return f"http://127.0.0.1:{keystone_port()}"


def run_script(command: str, timeout: float = 900.0) -> subprocess.CompletedProcess[str]:
    """``scripts/keystone.sh COMMAND``, output captured; never raises for its exit code."""
    return subprocess.run(
        ["bash", str(SCRIPT), command],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@dataclass(frozen=True, slots=True)
class Account:
    """A user with a role on a project, all in domain ``default``."""

    user: str
    password: str
    project: str


GLANCE = Account("glance", "glance-secret", "service")
"""The image service's own user: roles ``service`` and ``admin`` on project ``service``."""
P1_MEMBER = Account("p1-user", "p1-secret", "p1")
P2_MEMBER = Account("p2-user", "p2-secret", "p2")
P3_MEMBER = Account("p3-user", "p3-secret", "p3")
P1_READER = Account("p1-reader", "reader-secret", "p1")
"""Only ``reader`` on p1."""
ADMIN = Account("admin", os.environ.get("KEYSTONE_ADMIN_PASSWORD", "admin-secret"), "admin")
"""The bootstrap admin (``admin`` on project ``admin`` and on the system)."""


class KeystoneError(RuntimeError):
    """Keystone answered something other than what the call expects."""


class KeystoneHarness:
    """``KeystoneHarness("http://127.0.0.1:35357")`` (``/v3`` may be included)."""

    def __init__(self, url: str, *, admin: Account = ADMIN, timeout: float = 30.0) -> None:
        base = url.rstrip("/")
        self.url = base.removesuffix("/v3")
        self.auth_url = f"{self.url}/v3"
        self.admin = admin
        self._http = httpx.Client(base_url=self.auth_url, timeout=timeout, trust_env=False)
        self._admin_token: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KeystoneHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- low level

    def _call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> httpx.Response:
        hdrs = dict(headers or {})
        as_admin = token is None
        for attempt in range(2):
            hdrs["X-Auth-Token"] = self.admin_token() if as_admin else str(token)
            response = self._http.request(method, path, json=json, headers=hdrs, params=params)
            if as_admin and response.status_code == 401 and attempt == 0:
                self._admin_token = None  # expired or revoked: log in again
                continue
            break
        if response.status_code not in expect:
            raise KeystoneError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def is_up(self) -> bool:
        try:
            return self._http.get("/").status_code == 200
        except httpx.HTTPError:
            return False

    # ---------------------------------------------------------------- tokens

    def token(
        self, user: str, password: str, project: str | None = None, domain: str = "default"
    ) -> str:
        """A password token of ``user``, scoped to ``project`` (unscoped when None)."""
        auth: dict[str, Any] = {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"id": domain}, "password": password}
                },
            }
        }
        if project is not None:
            auth["scope"] = {"project": {"name": project, "domain": {"id": domain}}}
        response = self._http.post("/auth/tokens", params={"nocatalog": ""}, json={"auth": auth})
        if response.status_code != 201:
            raise KeystoneError(f"login of {user}: {response.status_code} {response.text[:300]}")
        return response.headers["X-Subject-Token"]

    def account_token(self, account: Account) -> str:
        return self.token(account.user, account.password, account.project)

    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = self.account_token(self.admin)
        return self._admin_token

    def validate(self, token: str, *, as_admin: bool = True) -> dict[str, Any] | None:
        """Keystone's ``token`` object for ``token``, or None when it is not valid (404).

        ``as_admin=False`` validates the token with itself (allowed to any user)."""
        response = self._call(
            "GET",
            "/auth/tokens",
            token=None if as_admin else token,
            headers={"X-Subject-Token": token},
            params={"nocatalog": ""},
            expect=(200, 401, 404),
        )
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()["token"]
        return body

    def revoke(self, token: str) -> None:
        """Revoke ``token`` (``DELETE /v3/auth/tokens``); Keystone refuses it at once."""
        self._call("DELETE", "/auth/tokens", headers={"X-Subject-Token": token})

    def short_lived_token(self, account: Account, seconds: float) -> str:
        """A token of ``account`` that expires in about ``seconds``: Keystone caps a token
        made with an application credential at the credential's ``expires_at``."""
        own = self.account_token(account)
        user_id = self.validate(own, as_admin=False)
        assert user_id is not None
        uid = user_id["user"]["id"]
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        credential = {
            "name": f"short-{uuid.uuid4().hex[:12]}",
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        }
        made = self._call(
            "POST",
            f"/users/{uid}/application_credentials",
            token=own,
            json={"application_credential": credential},
        ).json()["application_credential"]
        auth = {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": made["id"], "secret": made["secret"]},
            }
        }
        response = self._http.post("/auth/tokens", params={"nocatalog": ""}, json={"auth": auth})
        if response.status_code != 201:
            raise KeystoneError(f"application credential login: {response.status_code}")
        return response.headers["X-Subject-Token"]

    # ---------------------------------------------------------------- lookups

    def _find(self, kind: str, name: str) -> str:
        found = self._call("GET", f"/{kind}", params={"name": name}).json()[kind]
        if not found:
            raise KeystoneError(f"no {kind[:-1]} named {name!r}")
        ident: str = found[0]["id"]
        return ident

    def project_id(self, name: str) -> str:
        return self._find("projects", name)

    def user_id(self, name: str) -> str:
        return self._find("users", name)

    def role_id(self, name: str) -> str:
        return self._find("roles", name)

    # ---------------------------------------------------------------- catalog

    def register_image_endpoint(self, url: str, region: str = "RegionOne") -> None:
        """Make ``url`` the one public endpoint of the ``image`` service (created if missing),
        so that clients with password auth find Spyglass through the catalog."""
        services = self._call("GET", "/services", params={"type": "image"}).json()["services"]
        if services:
            service_id = services[0]["id"]
        else:
            body = {"service": {"type": "image", "name": "glance", "description": "Image service"}}
            service_id = self._call("POST", "/services", json=body).json()["service"]["id"]
        endpoints = self._call(
            "GET", "/endpoints", params={"service_id": service_id, "interface": "public"}
        ).json()["endpoints"]
        if [(e["url"], e.get("region_id")) for e in endpoints] == [(url, region)]:
            return
        for endpoint in endpoints:
            self._call("DELETE", f"/endpoints/{endpoint['id']}")
        body = {
            "endpoint": {
                "service_id": service_id,
                "interface": "public",
                "url": url,
                "region_id": region,
            }
        }
        self._call("POST", "/endpoints", json=body)

    def image_endpoints(self) -> list[str]:
        """Public URLs of the ``image`` service in the catalog."""
        services = self._call("GET", "/services", params={"type": "image"}).json()["services"]
        urls: list[str] = []
        for service in services:
            endpoints = self._call(
                "GET", "/endpoints", params={"service_id": service["id"], "interface": "public"}
            ).json()["endpoints"]
            urls += [e["url"] for e in endpoints]
        return urls

    # ---------------------------------------------------------------- Spyglass config

    def authtoken_options(self, **overrides: str) -> dict[str, str]:
        """``[keystone_authtoken]`` for a Spyglass that validates tokens here as ``glance``."""
        options = {
            "www_authenticate_uri": self.auth_url,
            "auth_url": self.auth_url,
            "auth_type": "password",
            "username": GLANCE.user,
            "password": GLANCE.password,
            "project_name": GLANCE.project,
            "user_domain_id": "default",
            "project_domain_id": "default",
        }
        options.update(overrides)
        return options

    def authtoken_section(self, **overrides: str) -> str:
        """The same as INI text, ``[keystone_authtoken]`` header included."""
        lines = [f"{k} = {v}" for k, v in self.authtoken_options(**overrides).items()]
        return "[keystone_authtoken]\n" + "\n".join(lines) + "\n"
