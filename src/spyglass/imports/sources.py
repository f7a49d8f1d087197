"""Where an import's bytes come from: the staging area, a web server, another
region's image service, or the image's own data in another store.

Every source is a byte stream the upload pipeline consumes; none of them
checks sizes, hashes or formats itself.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from spyglass.domain.image import Image
from spyglass.imports.plugins.base import ImportFailed
from spyglass.stores.registry import StoreSet
from spyglass.types import ByteStream


@dataclass(frozen=True, slots=True)
class Source:
    stream: ByteStream
    size: int | None
    """What the sender announced, if anything (checked by the pipeline)."""


class RemoteGlance:
    """glance-download: another region's image service, at the URL the operator
    gave for that region (``[glance_download_opts] region_endpoints``), reached
    through the same outbound rules as web-download (upstream filters it too)."""

    def __init__(
        self, endpoints: Mapping[str, str], read_json: Callable[[str], Awaitable[bytes]]
    ) -> None:
        self.endpoints = dict(endpoints)
        self.read_json = read_json

    def endpoint(self, region: str) -> str:
        url = self.endpoints.get(region)
        if url is None:
            raise ImportFailed(f"No image service is known for region {region!r}.")
        return url.rstrip("/")

    async def metadata(self, region: str, image_id: str) -> dict[str, Any]:
        url = f"{self.endpoint(region)}/v2/images/{image_id}"
        try:
            body = json.loads(await self.read_json(url))
        except ValueError:
            raise ImportFailed(
                f"Region {region} sent unreadable metadata for {image_id}."
            ) from None
        if not isinstance(body, dict):
            raise ImportFailed(f"Region {region} sent unreadable metadata for {image_id}.")
        if body.get("status") != "active":
            raise ImportFailed(
                f"Source image status should be active instead of {body.get('status')}"
            )
        return body

    def data_url(self, region: str, image_id: str) -> str:
        return f"{self.endpoint(region)}/v2/images/{image_id}/file"


@asynccontextmanager
async def existing_data(stores: StoreSet, image: Image) -> AsyncIterator[Source]:
    """copy-image: the image's data from the first of its locations that answers."""
    for location in image.locations:
        try:
            read = await stores.for_location(location.url).get(location.url)
        except Exception:
            continue
        yield Source(read.stream, read.size)
        return
    raise ImportFailed(f"No readable copy of image {image.id}'s data was found.")
