"""web-download's fetches, through the server's outbound rules (``net/outbound.py``):
``[import_filtering_opts]``, no loopback or private targets unless allowed,
every redirect checked, connect and read timeouts, ``image_size_cap``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from spyglass.config import Settings
from spyglass.errors import BadRequest, OutboundDenied
from spyglass.imports.sources import Source
from spyglass.net.outbound import OutboundClient, OutboundLimits, OutboundRules


class DisallowedUri(BadRequest):
    code = "disallowed_uri"


class WebDownload:
    def __init__(self, client: OutboundClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> WebDownload:
        limits = OutboundLimits.from_options(settings.option, max_size=settings.image_size_cap)
        return cls(OutboundClient(OutboundRules.from_options(settings.option), limits))

    def check(self, url: str) -> None:
        """Upstream's 400 for a URI the filtering rules refuse (before any DNS)."""
        try:
            self.client.check(url)
        except OutboundDenied as exc:
            raise DisallowedUri(
                f"URI for web-download does not pass filtering: {url} ({exc.message})"
            ) from None

    @asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[Source]:
        data = await self.client.open(url)
        try:
            yield Source(data.stream, data.size)
        finally:
            await data.stream.aclose()

    async def read_json(self, url: str, *, limit: int = 1024 * 1024) -> bytes:
        """A small document (another region's image metadata), at most ``limit`` bytes."""
        data = await self.client.open(url, max_size=limit)
        return b"".join([chunk async for chunk in data.stream])

    async def close(self) -> None:
        await self.client.aclose()
