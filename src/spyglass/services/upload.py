"""``PUT /v2/images/{id}/file``: stream bytes into the store and activate the image.

The image moves ``queued -> saving`` with a compare-and-swap, so of two
concurrent uploads exactly one proceeds and the other gets 409. The bytes pass
through one pipeline (rechunk, size limits, quota reservation, digests)
straight into the store; nothing holds the whole image. Any failure removes
what was written and puts the image back to ``queued``. The upload's own saves
write only its data fields, so a metadata change made meanwhile survives.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus, Location
from spyglass.domain.states import transition
from spyglass.errors import BadRequest, Conflict, Gone, ImageNotFound, ImageTooLarge
from spyglass.lazy import lazy_module
from spyglass.notify.events import upload_failed
from spyglass.services.images import ImageService
from spyglass.services.ports import ImageRepository, TransferLeases
from spyglass.services.recovery import LEASE_SECONDS, back_to_queued, leased
from spyglass.services.signatures import SignatureService
from spyglass.services.stores import new_location, upload_target
from spyglass.stores.base import Store
from spyglass.streams.chunking import rechunk
from spyglass.streams.digest import Digester, Digests
from spyglass.streams.limits import limit_size
from spyglass.types import ByteStream

if TYPE_CHECKING:
    from spyglass.streams import inspect as format_inspection
    from spyglass.streams.inspect import FormatInspector
else:  # oslo.utils' inspectors (with strutils' regexes) load with the first upload
    format_inspection = lazy_module("spyglass.streams.inspect")

log = logging.getLogger(__name__)

RESERVATION_STEP = 16 * 1024 * 1024
"""Bytes reserved at a time when the client did not say how many it sends:
few database writes per upload, and little quota held ahead of the data."""


class StorageReservation:
    """An upload's bytes, held against its owner's ``user_storage_quota`` as they arrive.

    Each reservation is checked against everything the owner holds and every
    other upload's reservation in one atomic step, so parallel uploads can
    never add up past the quota.
    """

    def __init__(self, repo: ImageRepository, image: Image, quota: int) -> None:
        self.repo = repo
        self.image = image
        self.quota = quota
        self.reserved = 0

    async def cover(self, total: int, *, exactly: bool = False) -> None:
        """Make sure ``total`` bytes are held (reserving a step ahead unless ``exactly``)."""
        if total <= self.reserved and not exactly:
            return
        want = total if exactly else max(total, self.reserved + RESERVATION_STEP)
        granted = await self.repo.reserve(
            self.image.id, self.image.owner, want=want, quota=self.quota
        )
        if granted < total:
            raise ImageTooLarge(
                f"The storage quota of {self.quota} bytes would be exceeded: "
                f"{granted} bytes are left for this image."
            )
        self.reserved = granted

    async def wrap(self, source: ByteStream) -> ByteStream:
        seen = 0
        async for chunk in source:
            seen += len(chunk)
            await self.cover(seen)
            yield chunk


@dataclass(frozen=True, slots=True)
class Ingested:
    """What the pipeline stored: where, and what it measured on the way."""

    location: Location
    size: int
    digests: Digests | None
    """``None`` when the caller asked for no hashing (staging)."""
    virtual_size: int | None


class _Counter:
    """Counts the bytes of a stream that is not hashed."""

    def __init__(self) -> None:
        self.size = 0

    async def wrap(self, source: ByteStream) -> ByteStream:
        async for chunk in source:
            self.size += len(chunk)
            yield chunk


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
        signatures: SignatureService | None = None,
        leases: TransferLeases | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.images = images
        self.signatures = signatures or SignatureService(None)
        self.leases = leases
        self.lease_seconds = lease_seconds
        self.hashing_algorithm = hashing_algorithm
        self.size_cap = size_cap
        self.require_format_match = require_format_match
        self.gpt_nonfatal = gpt_nonfatal
        self.storage_quota = storage_quota

    def _lease(self, image_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """While the bytes flow, a lease says a live server writes them (``recovery``)."""
        if self.leases is None:
            return contextlib.nullcontext()
        return leased(self.leases, image_id, self.lease_seconds)

    async def upload(
        self,
        ctx: RequestContext,
        image_id: str,
        data: ByteStream,
        *,
        size: int | None,
        length_hint: int | None = None,
        checksum: str | None = None,
        failed_status: ImageStatus = ImageStatus.QUEUED,
        store_id: str | None = None,
    ) -> Image:
        """Store ``data`` as the image's bytes; ``size`` is what the client declared
        (it must match), ``length_hint`` the request's ``Content-Length``.

        ``checksum`` is an MD5 the client declared (v1's ``x-image-meta-checksum``):
        data that does not match it is removed and refused. After a failure the image
        goes back to ``failed_status``: ``queued`` (v2) or ``killed`` (v1). ``store_id``
        picks the store (multi-store's ``X-Image-Meta-Store``; the default if None)."""
        image = await self.images.get(ctx, image_id)
        self.images.access.authorize(ctx, image, "upload_image")
        if image.status is not ImageStatus.QUEUED:
            raise Conflict(f"Image {image_id} is not in queued status ({image.status}).")
        saving = await self.images.repo.save_data(
            transition(image, ImageStatus.SAVING),
            expect_status=ImageStatus.QUEUED,
            events=("image.update", "image.prepare"),
        )
        try:
            async with self._lease(image_id):
                return await self._store_and_activate(
                    saving, data, size, length_hint, checksum, store_id
                )
        except BaseException as exc:
            with anyio.CancelScope(shield=True):  # the client may be gone; clean up anyway
                await self._notify_failure(saving, exc)
                await back_to_queued(self.images.repo, saving, failed_status)
            raise

    async def _notify_failure(self, image: Image, exc: BaseException) -> None:
        """Upstream's ``image.upload`` at ERROR, whose payload is the error message."""
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        text = f"Failed to upload image data for image {image.id}: {reason}"
        try:
            await self.images.events.record([upload_failed(image, text)])
        except Exception:
            log.exception("image %s: could not record the failed upload's notification", image.id)

    async def ingest(
        self,
        image: Image,
        data: ByteStream,
        *,
        store: Store,
        size: int | None = None,
        length_hint: int | None = None,
        checksum: str | None = None,
        quota: bool = True,
        inspect: bool = True,
        verify: bool = True,
        hashes: bool = True,
    ) -> Ingested:
        """The one pipeline: stream ``data`` into ``store`` through the size cap, the
        owner's quota reservation (while ``image`` is receiving data), the digests, the
        format inspection and the signature check. Uploads, staging and every import
        method use it. Whatever fails, nothing it wrote is left in the store. Staged data
        is not hashed (``hashes=False``): the import hashes what goes into the store."""
        verifier = await self.signatures.verifier_for(image.properties) if verify else None
        stream = limit_size(rechunk(data), cap=self.size_cap, expected=size)
        reservation = None
        if quota and self.storage_quota is not None:
            reservation = StorageReservation(self.images.repo, image, self.storage_quota)
            announced = size if size is not None else length_hint
            if announced is not None:
                await reservation.cover(announced, exactly=True)
            stream = reservation.wrap(stream)
        digester = Digester(self.hashing_algorithm) if hashes else None
        counter = _Counter()
        stream = counter.wrap(stream) if digester is None else digester.wrap(stream)
        inspector = None
        if inspect and image.container_format == "bare":
            inspector = format_inspection.FormatInspector()
        if inspector is not None:
            stream = inspector.wrap(stream)
        if verifier is not None:
            stream = verifier.wrap(stream)
        written = await store.add(image.id, stream, size=size)
        virtual_size = None
        try:
            if inspector is not None:
                virtual_size = self._virtual_size(inspector, image.disk_format)
            if reservation is not None:  # hold exactly what arrived, or fail
                await reservation.cover(written.size, exactly=True)
            if verifier is not None:
                verifier.verify()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.images.delete_data(written.location, image.id)
            raise
        digests = digester.result if digester is not None else None
        if checksum is not None and (digests is None or checksum != digests.checksum):
            await self.images.delete_data(written.location, image.id)
            raise BadRequest(
                f"Supplied checksum ({checksum}) and checksum generated from uploaded image "
                f"({digests.checksum if digests else None}) did not match."
            )
        size = digests.size if digests is not None else counter.size
        return Ingested(new_location(store, written), size, digests, virtual_size)

    async def _store_and_activate(
        self,
        image: Image,
        data: ByteStream,
        size: int | None,
        length_hint: int | None,
        checksum: str | None = None,
        store_id: str | None = None,
    ) -> Image:
        store = await upload_target(self.images.stores, store_id)
        got = await self.ingest(
            image, data, store=store, size=size, length_hint=length_hint, checksum=checksum
        )
        image.virtual_size = got.virtual_size
        digests = got.digests
        assert digests is not None
        image.locations = [got.location]
        image.size = digests.size
        image.checksum = digests.checksum
        image.os_hash_algo = digests.os_hash_algo
        image.os_hash_value = digests.os_hash_value
        try:
            return await self.images.repo.save_data(
                transition(image, ImageStatus.ACTIVE),
                expect_status=ImageStatus.SAVING,
                events=("image.upload", "image.activate", "image.update"),
            )
        except (ImageNotFound, Conflict) as exc:
            await self.images.delete_data(got.location.url, image.id)
            raise Gone(
                f"Image {image.id} could not be found after upload: it was deleted during "
                "the upload."
            ) from exc

    def _virtual_size(self, inspector: FormatInspector, disk_format: str | None) -> int | None:
        """Judge the inspected format; mismatches are fatal only if configured so."""
        try:
            return inspector.judge(disk_format, nonfatal=self.gpt_nonfatal).virtual_size
        except format_inspection.InvalidImageData as exc:
            if self.require_format_match:
                raise
            log.warning("image data does not match its disk_format: %s", exc.message)
            return None
