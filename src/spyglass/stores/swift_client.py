"""Requests to Swift with a valid token, on one httpx connection pool.

Tokens are kept per set of credentials (the store's own, and those of legacy
locations), renewed when they expire within ``expire_soon`` seconds, and once
more when Swift refuses one with 401 and the request's body can be sent again.
Swift that cannot be reached is ``StoreUnavailable``, never an httpx error.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import anyio
import httpx

from spyglass.errors import StoreMisconfigured, StoreUnavailable
from spyglass.stores.swift_auth import Catalog, Credentials, Token, authenticate


def object_path(container: str, obj: str | None = None) -> str:
    """``/container[/object]``, each quoted whole (object names may hold ``/``)."""
    path = "/" + quote(container, safe="")
    return path if obj is None else f"{path}/{quote(obj, safe='')}"


class SwiftClient:
    def __init__(
        self,
        store: str,
        *,
        catalog: Catalog,
        expire_soon: float = 60.0,
        snet: bool = False,
        verify: bool | str = True,
        timeout: float = 120.0,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.expire_soon = expire_soon
        self.snet = snet
        self.ssl = _ssl_context(verify)
        self.read_timeout = timeout
        self.tokens: dict[Credentials, Token] = {}
        self._timeout = httpx.Timeout(timeout, connect=10.0)
        self._http: httpx.AsyncClient | None = None
        self._auth_locks: dict[Credentials, anyio.Lock] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(verify=self.ssl, timeout=self._timeout, trust_env=False)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def call(
        self,
        creds: Credentials,
        method: str,
        container: str,
        obj: str | None = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: AsyncIterator[bytes] | bytes | None = None,
        stream: bool = False,
        replayable: bool = True,
    ) -> httpx.Response:
        """One request with a valid token; a 401 is retried once with a new token
        when the body can be sent again."""
        token = await self.token(creds)
        path = object_path(container, obj)
        for attempt in (1, 2):
            request = self.http.build_request(
                method,
                token.storage_url + path,
                params=params,
                headers={**(headers or {}), "X-Auth-Token": token.value},
                content=content if content is not None else (b"" if method == "PUT" else None),
            )
            try:
                response = await self.http.send(request, stream=stream)
            except httpx.HTTPError as exc:
                raise StoreUnavailable(
                    f"Swift store {self.store} is unavailable ({type(exc).__name__})."
                ) from None
            if response.status_code != 401:
                return response
            await response.aclose()
            self.tokens.pop(creds, None)
            if attempt == 2 or not replayable:
                break
            token = await self.token(creds, stale=token)
        raise StoreMisconfigured(
            f"Swift store {self.store}: Swift refused a fresh token of its user."
        )

    async def token(
        self, creds: Credentials, *, renew: bool = False, stale: Token | None = None
    ) -> Token:
        """A token for ``creds`` valid for ``expire_soon`` more seconds; one
        authentication at a time per user."""
        token = self.tokens.get(creds)
        if token is not None and not renew and not token.expires_within(self.expire_soon):
            return token
        lock = self._auth_locks.setdefault(creds, anyio.Lock())
        async with lock:
            current = self.tokens.get(creds)
            if current is not None and current is not token and current is not stale:
                return current  # another task renewed it meanwhile
            token = await authenticate(self.http, creds, self.catalog, store=self.store)
            if self.snet:
                token = _servicenet(token)
            self.tokens[creds] = token
            return token


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    """``swift_store_cacert`` (a path), the system's CAs (True), or no checks
    (``swift_store_auth_insecure``, False)."""
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _servicenet(token: Token) -> Token:
    """Rackspace ServiceNet: the same storage URL on the ``snet-`` host."""
    parts = urlsplit(token.storage_url)
    netloc = parts.netloc if parts.netloc.startswith("snet-") else f"snet-{parts.netloc}"
    url = urlunsplit(parts._replace(netloc=netloc))
    return Token(token.value, url, token.expires_at)
