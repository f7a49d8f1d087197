"""Read-only HTTP(S) locations: image data another web server holds.

Images are registered by URL (a v2 location, v1's ``x-image-meta-location``);
their size comes from a HEAD request and their bytes stream from a GET, ranged
when the server serves ranges. Every request goes through the server's
:class:`~spyglass.net.outbound.OutboundClient`, so the operator's
``[import_filtering_opts]`` decide which servers may be reached, redirects
included. Nothing is ever written or deleted: deleting an image leaves the
remote data alone, as upstream's store does.

A URL may carry ``user:password@`` (upstream's locations did); it is sent as
Basic authentication to that server only, and never shown (``location.redact``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar, Self

from spyglass.errors import BadStoreUri, Gone, RemoteRefused
from spyglass.net.outbound import OutboundClient
from spyglass.net.rules import OutboundLimits, OutboundRules
from spyglass.stores.base import (
    ByteRange,
    Capability,
    ReadResult,
    Store,
    StoreOptions,
    WriteResult,
)
from spyglass.types import ByteStream

log = logging.getLogger(__name__)


class HttpStore(Store):
    driver: ClassVar[str] = "http"
    schemes: ClassVar[tuple[str, ...]] = ("http", "https")

    def __init__(self, backend_id: str, *, client: OutboundClient) -> None:
        super().__init__(backend_id)
        self.client = client

    @classmethod
    def from_options(cls, backend_id: str, options: StoreOptions) -> Self:
        """glance_store's ``https_ca_certificates_file``, ``https_insecure`` (which,
        as upstream, defaults to not checking certificates) and
        ``http_proxy_information``, under the server's outbound rules."""
        ca_file = options.get("https_ca_certificates_file")
        verify: bool | str = (
            ca_file if isinstance(ca_file, str) and ca_file else not options.get("https_insecure")
        )
        proxies = options.get("http_proxy_information")
        client = OutboundClient(
            OutboundRules.from_options(options.server_option),
            OutboundLimits.from_options(options.server_option),
            verify=verify,
            proxies={str(k): str(v) for k, v in proxies.items()}
            if isinstance(proxies, dict)
            else None,
        )
        return cls(backend_id, client=client)

    @property
    def capabilities(self) -> Capability:
        return Capability.READ | Capability.READ_RANGE

    async def close(self) -> None:
        await self.client.aclose()

    async def add(self, image_id: str, data: ByteStream, *, size: int | None) -> WriteResult:
        raise Gone(f"Store {self.backend_id} is read-only: register data by its URL instead.")

    async def get(self, location: str, *, byte_range: ByteRange | None = None) -> ReadResult:
        if byte_range is None:
            size, stream = await self.client.open(location)
        else:
            size, stream = await self.client.open(
                location, start=byte_range.start, end=byte_range.end
            )
        if size is None:
            await stream.aclose()
            raise RemoteRefused("The remote server does not say how large the data is.")
        return ReadResult(stream=stream, size=size)

    async def get_size(self, location: str) -> int:
        size = (await self.client.head(location)).size
        if size is None:
            raise BadStoreUri("The remote server does not say how large the data is.")
        return size

    async def delete(self, location: str) -> None:
        """Nothing: the data belongs to the remote server (upstream's store cannot delete)."""
        log.info("store %s leaves the remote data of a deleted image in place", self.backend_id)

    def properties(self) -> Mapping[str, object]:
        return {}
