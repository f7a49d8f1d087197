"""``PUT /v2/images/{id}/file``: stream bytes into the store and activate the image.

The image moves ``queued -> saving`` with a compare-and-swap, so of two
concurrent uploads exactly one proceeds and the other gets 409. The bytes pass
through one pipeline (rechunk, size limits, digests) straight into the store;
nothing holds the whole image. Any failure removes what was written and puts
the image back to ``queued``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import anyio

from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus, Location
from spyglass.domain.states import transition
from spyglass.errors import Conflict, Gone, ImageNotFound, ImageTooLarge
from spyglass.services.images import ImageService, delete_data
from spyglass.streams.chunking import rechunk
from spyglass.streams.digest import Digester
from spyglass.streams.inspect import FormatInspector, InvalidImageData
from spyglass.streams.limits import limit_size
from spyglass.types import ByteStream

log = logging.getLogger(__name__)


class UploadService:
    def __init__(
        self,
        images: ImageService,
        *,
        hashing_algorithm: str,
        size_cap: int,
        require_format_match: bool = True,
        gpt_nonfatal: Collection[str] = (),
        storage_quota: int | None = None,
    ) -> None:
        self.images = images
        self.hashing_algorithm = hashing_algorithm
        self.size_cap = size_cap
        self.require_format_match = require_format_match
        self.gpt_nonfatal = gpt_nonfatal
        self.storage_quota = storage_quota

    async def upload(
        self, ctx: RequestContext, image_id: str, data: ByteStream, *, size: int | None
    ) -> Image:
        image = await self.images.get(ctx, image_id)
        self.images.access.authorize(ctx, image, "upload_image")
        if image.status is not ImageStatus.QUEUED:
            raise Conflict(f"Image {image_id} is not in queued status ({image.status}).")
        cap = await self._size_limit(image)
        saving = await self.images.repo.save(
            transition(image, ImageStatus.SAVING), expect_status=ImageStatus.QUEUED
        )
        try:
            return await self._store_and_activate(saving, data, size, cap)
        except BaseException:
            with anyio.CancelScope(shield=True):  # the client may be gone; clean up anyway
                await self._back_to_queued(saving)
            raise

    async def _size_limit(self, image: Image) -> int:
        """``image_size_cap``, lowered to what the owner's storage quota has left."""
        if self.storage_quota is None:
            return self.size_cap
        used = await self.images.repo.usage(image.owner, excluding=image.id)
        left = self.storage_quota - used.size
        if left <= 0:
            raise ImageTooLarge(
                f"The storage quota of {self.storage_quota} bytes is used up ({used.size} bytes)."
            )
        return min(self.size_cap, left)

    async def _store_and_activate(
        self, image: Image, data: ByteStream, size: int | None, cap: int
    ) -> Image:
        store = self.images.stores.default
        digester = Digester(self.hashing_algorithm)
        stream = digester.wrap(limit_size(rechunk(data), cap=cap, expected=size))
        inspector = FormatInspector() if image.container_format == "bare" else None
        if inspector is not None:
            stream = inspector.wrap(stream)
        written = await store.add(image.id, stream, size=size)
        try:
            if inspector is not None:
                image.virtual_size = self._virtual_size(inspector, image.disk_format)
        except InvalidImageData:
            await delete_data(self.images.stores, written.location)
            raise
        digests = digester.result
        image.locations = [Location(written.location, {"store": store.backend_id})]
        image.size = digests.size
        image.checksum = digests.checksum
        image.os_hash_algo = digests.os_hash_algo
        image.os_hash_value = digests.os_hash_value
        try:
            return await self.images.repo.save(
                transition(image, ImageStatus.ACTIVE), expect_status=ImageStatus.SAVING
            )
        except (ImageNotFound, Conflict) as exc:
            await delete_data(self.images.stores, written.location)
            raise Gone(
                f"Image {image.id} could not be found after upload: it was deleted during "
                "the upload."
            ) from exc

    def _virtual_size(self, inspector: FormatInspector, disk_format: str | None) -> int | None:
        """Judge the inspected format; mismatches are fatal only if configured so."""
        try:
            return inspector.judge(disk_format, nonfatal=self.gpt_nonfatal).virtual_size
        except InvalidImageData as exc:
            if self.require_format_match:
                raise
            log.warning("image data does not match its disk_format: %s", exc.message)
            return None

    async def _back_to_queued(self, image: Image) -> None:
        """Undo ``saving``; if the image was deleted meanwhile there is nothing to undo."""
        queued = transition(image, ImageStatus.QUEUED)
        queued.locations = []
        queued.checksum = queued.os_hash_algo = queued.os_hash_value = None
        try:
            await self.images.repo.save(queued, expect_status=ImageStatus.SAVING)
        except (ImageNotFound, Conflict):
            log.info("image %s changed during a failed upload; not restoring queued", image.id)
