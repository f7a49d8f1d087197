"""Talks to Keystone: the service token, and validating users' tokens."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from spyglass.auth.keystone_config import RENEW_BEFORE, SECTION, KeystoneAuthConfig
from spyglass.auth.keystone_token import TokenInfo

log = logging.getLogger(__name__)


class KeystoneUnavailable(Exception):
    """Keystone could not answer (unreachable, timed out, or it refused the service user)."""


class IdentityClient:
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
                    f"({response.status_code}); check [{SECTION}]"
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
