"""The API server's connection to the registry: a keep-alive pool and the error mapping.

Every repository call is one ``POST`` (see ``protocol``) on a pooled keep-alive
connection (``http1``). A registry that cannot be reached, or does not answer within
``registry_client_timeout``, is ``RegistryUnavailable`` (503 with ``Retry-After``),
never a hang or a 500; the pool reconnects by itself once the registry is back. A
call that changes nothing is sent once more when a pooled connection broke under it
(the registry restarted); a write is not, since it may have been done. Each call
carries the request id it is made for (``x-openstack-request-id``), so the registry's
lines for it carry that id too.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from spyglass import request_ids
from spyglass.config import Settings
from spyglass.errors import ConfigError, RegistryUnavailable, SpyglassError
from spyglass.registry.http1 import Broken, Http1Pool, NotSent, TransportError
from spyglass.registry.protocol import CALLS, decode_error
from spyglass.registry.trust import TOKEN_HEADER

log = logging.getLogger(__name__)

TokenSource = Callable[[], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class RegistryAddress:
    """Where the registry is and how to reach it, from glance-api.conf."""

    url: str
    timeout: float
    verify: ssl.SSLContext | bool
    auth_token: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryAddress:
        protocol = settings.registry_client_protocol
        if protocol not in ("http", "https"):
            raise ConfigError(f"registry_client_protocol: {protocol!r} is not http or https")
        host = settings.registry_host
        host = f"[{host}]" if ":" in host else host
        verify: ssl.SSLContext | bool = True
        option = settings.option
        if protocol == "https":
            verify = ssl.create_default_context(
                cafile=str(option("DEFAULT", "registry_client_ca_file") or "") or None
            )
            if option("DEFAULT", "registry_client_insecure"):
                verify.check_hostname = False
                verify.verify_mode = ssl.CERT_NONE
            cert = option("DEFAULT", "registry_client_cert_file")
            if cert:
                key = option("DEFAULT", "registry_client_key_file")
                verify.load_cert_chain(str(cert), str(key) if key else None)
        token = option("DEFAULT", "registry_auth_token")
        return cls(
            url=f"{protocol}://{host}:{settings.registry_port}",
            timeout=float(str(option("DEFAULT", "registry_client_timeout"))),
            verify=verify,
            auth_token=str(token) if token else None,
        )


class RegistryConnection:
    """Calls the registry; one pool per event loop (a pooled connection belongs to its loop)."""

    def __init__(
        self, address: RegistryAddress, *, keystone_token: TokenSource | None = None
    ) -> None:
        self.address = address
        self.keystone_token = keystone_token
        self._pool: Http1Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down = False

    def _http(self) -> Http1Pool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            headers = {"User-Agent": "spyglass-registry-client"}
            if self.address.auth_token:
                headers[TOKEN_HEADER] = self.address.auth_token
            verify = self.address.verify
            self._pool = Http1Pool(
                self.address.url,
                timeout=self.address.timeout,
                connect_timeout=min(self.address.timeout, 10),
                tls=verify if isinstance(verify, ssl.SSLContext) else None,
                headers=headers,
            )
            self._loop = loop
        return self._pool

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def call(self, name: str, /, **args: Any) -> Any:
        """Run one repository call at the registry; its result, or its error re-raised."""
        call = CALLS[name]
        body = call.encode_args(args)
        headers = {"Content-Type": "application/json"}
        request_id = request_ids.current()
        if request_id:
            headers["X-Openstack-Request-Id"] = request_id
        if self.keystone_token is not None:
            headers["X-Auth-Token"] = await self.keystone_token()
        attempts = 2 if call.reads else 1
        for attempt in range(attempts):
            try:
                status, content = await self._http().request("POST", f"/rpc/{name}", body, headers)
                break
            except NotSent as exc:
                raise self._unavailable(exc) from None  # nothing was sent: nothing to retry
            except Broken as exc:  # a pooled connection the registry closed (it restarted)
                if attempt + 1 < attempts:
                    continue
                raise self._unavailable(exc) from None
            except TransportError as exc:  # timed out: the registry may still be at it
                raise self._unavailable(exc) from None
        if self._down:
            self._down = False
            log.warning("the registry at %s answers again", self.address.url)
        if status == 200:
            return call.decode_result(content)
        raise self._refused(status, content)

    def _unavailable(self, exc: Exception) -> RegistryUnavailable:
        if not self._down:
            self._down = True
            log.error(
                "the registry at %s is unreachable (%s); answering 503 until it is back",
                self.address.url, exc,
            )  # fmt: skip
        return RegistryUnavailable()

    def _refused(self, status: int, content: bytes) -> SpyglassError:
        if status == 401:  # the trust check; repositories never raise it
            log.error("the registry at %s refused this API server's credentials", self.address.url)
            return RegistryUnavailable()
        error = decode_error(status, content)
        if status >= 500 and not isinstance(error, RegistryUnavailable):
            log.error("the registry failed a call: %s", error.message)
        return error

    async def probe(self) -> str | None:
        """Why the registry cannot be used now, or ``None`` when it answers."""
        try:
            status, _ = await self._http().request(
                "GET", "/healthcheck", within=min(self.address.timeout, 5)
            )
        except TransportError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return None if status == 200 else f"it answered {status}"
