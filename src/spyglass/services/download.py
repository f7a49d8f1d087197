"""``GET /v2/images/{id}/file``: find the bytes and open them, whole or a range."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import anyio

from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus
from spyglass.errors import Forbidden, NotFound, RangeNotSatisfiable, StoreUnavailable
from spyglass.notify.events import send_event
from spyglass.services.images import ImageService
from spyglass.services.ports import DataCache, NoEvents
from spyglass.services.stores import location_store, reading_order
from spyglass.stores.base import ByteRange, ReadResult
from spyglass.types import ByteStream

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Download:
    image: Image
    data: ReadResult | None
    """``None`` when the image has no data yet (answered with 204)."""
    byte_range: ByteRange | None = None
    total_size: int | None = None


class DownloadService:
    """Every download passes the same checks; only then may the cache answer it."""

    def __init__(self, images: ImageService, cache: DataCache | None = None) -> None:
        self.images = images
        self.cache = cache

    async def download(
        self, ctx: RequestContext, image_id: str, *, byte_range: ByteRange | None = None
    ) -> Download:
        image = await self.images.get(ctx, image_id)
        self.images.access.authorize(ctx, image, "download_image")
        if image.status is ImageStatus.DEACTIVATED and not ctx.is_admin:
            raise Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
            )
        if not image.locations:
            return Download(image=image, data=None)
        total = image.size
        if byte_range is not None:
            byte_range = _clamp(byte_range, total)
        data = None
        if self.cache is not None and image.status is ImageStatus.ACTIVE:
            whole = image

            async def source(part: ByteRange | None) -> ReadResult:
                return await self.read_store(whole, part)

            data = await self.cache.read(image, byte_range, source)
        if data is None:
            data = await self.read_store(image, byte_range)
        if not isinstance(self.images.events, NoEvents):
            if data.local is not None:  # a zero-copy send reports what it handed over
                data.local.on_sent = functools.partial(self._record_send, ctx, image, data.size)
            data = ReadResult(
                stream=self._counted(ctx, image, data), size=data.size, local=data.local
            )
        return Download(image=image, data=data, byte_range=byte_range, total_size=total)

    async def read_store(self, image: Image, byte_range: ByteRange | None) -> ReadResult:
        """Open the first of the image's locations that answers."""
        stores = self.images.stores
        for location in reading_order(stores, image.locations):
            store = self.images.stores.store_of(location.url, location_store(stores, location))
            try:
                return await store.get(location.url, byte_range=byte_range)
            except NotFound:
                continue
        raise StoreUnavailable(f"No data could be read for image {image.id}.")

    async def _counted(self, ctx: RequestContext, image: Image, data: ReadResult) -> ByteStream:
        """The bytes, then upstream's ``image.send`` (ERROR if the transfer fell short)."""
        sent = 0
        try:
            async for chunk in data.stream:
                yield chunk
                sent += len(chunk)
        finally:
            await self._record_send(ctx, image, data.size, sent)

    async def _record_send(
        self, ctx: RequestContext, image: Image, expected: int, sent: int
    ) -> None:
        event = send_event(
            image,
            bytes_sent=sent,
            expected=expected,
            receiver_project=ctx.project_id,
            receiver_user=ctx.user_id,
        )
        with anyio.CancelScope(shield=True):
            try:
                await self.images.events.record([event])
            except Exception:
                log.exception("image %s: could not record image.send", image.id)


def _clamp(requested: ByteRange, total: int | None) -> ByteRange:
    """Resolve a range against the image size; a start beyond the end is 416."""
    if total is None:
        return requested
    start = requested.start
    if start < 0:  # suffix range: the last -start bytes
        start = max(0, total + start)
    if start >= total:
        raise RangeNotSatisfiable(f"Requested range not satisfiable: the image has {total} bytes.")
    end = total - 1 if requested.end is None else min(requested.end, total - 1)
    return ByteRange(start, end)
