"""v1's remote data: ``x-image-meta-location`` registers a URL, ``x-glance-api-copy-from``
copies one into the default store.

A location becomes the image's location through ``ImageService.add_location``, the
same check every v2 path uses; its size is asked first (upstream's order), so a URL
that is refused, missing or of another size leaves no image behind. A copy goes
through the one upload pipeline (``UploadService.upload``), fed by the HTTP store's
outbound client, after the 201 answer (upstream copied in the background too): the
image is ``queued`` in the answer, ``saving`` while the bytes arrive, then
``active``, or ``killed`` if the copy fails. Both obey the outbound rules; a copy
reads only ``http`` and ``https`` URLs, which those rules govern.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from dataclasses import dataclass

from starlette.background import BackgroundTask
from starlette.requests import Request

from spyglass import request_ids
from spyglass.api.v1.headers import V1Meta
from spyglass.api.v2.common import context, services
from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus
from spyglass.errors import BadRequest, BadStoreUri, Conflict, SpyglassError
from spyglass.net.outbound import OutboundClient
from spyglass.services.upload import UploadService
from spyglass.stores.http import HttpStore
from spyglass.stores.location import RESTRICTED_SCHEMES, scheme_of
from spyglass.types import ByteStream

log = logging.getLogger(__name__)

COPY_FROM = "x-glance-api-copy-from"


@dataclass(frozen=True, slots=True)
class RemoteSource:
    url: str
    copy: bool
    """Copy the bytes into the default store (else register the URL as the location)."""


def remote_source(request: Request, meta: V1Meta) -> RemoteSource | None:
    """The request's location or copy-from (taken out of ``meta``); at most one."""
    location = meta.core.pop("location", None)
    copy_from = request.headers.get(COPY_FROM) or meta.core.pop("copy_from", None)
    meta.core.pop("copy_from", None)
    if location and copy_from:
        raise BadRequest("Give either a location or a copy-from URL, not both.")
    if location:
        return RemoteSource(location, copy=False)
    if copy_from:
        return RemoteSource(copy_from.strip(), copy=True)
    return None


async def check_location(request: Request, url: str, declared_size: int | None) -> None:
    """Upstream's checks before the image exists: a configured store serves the URL,
    there is data there, and it has the size the client declared (409 otherwise)."""
    if scheme_of(url) in RESTRICTED_SCHEMES:
        raise BadRequest("Invalid location: local and configured-account URLs are refused.")
    try:
        store = services(request).images.stores.for_location(url)
    except BadStoreUri as exc:
        raise BadRequest(f"Invalid location: {exc.message}") from None
    size = await store.get_size(url)
    if declared_size is not None and declared_size != size:
        raise Conflict(
            f"The declared size ({declared_size}) differs from the data at the location ({size})."
        )


async def register_location(request: Request, image: Image, url: str) -> Image:
    """The queued ``image`` made active on the data at ``url``."""
    svc = services(request)
    await svc.images.add_location(context(request), image.id, {"url": url})
    return await svc.images.get(context(request), image.id)


async def copy_client(request: Request, url: str) -> OutboundClient:
    """The HTTP store's client, once the outbound rules let ``url`` through (400 early)."""
    if scheme_of(url) not in ("http", "https"):
        raise BadRequest("copy-from reads http and https URLs only.")
    stores = services(request).images.stores.stores.values()
    client = next((s.client for s in stores if isinstance(s, HttpStore)), None)
    if client is None:
        raise BadRequest("copy-from needs the http store (glance_store's stores = file,http).")
    await client.check_reachable(url)
    return client


def copy_task(
    request: Request, image: Image, client: OutboundClient, url: str, meta: V1Meta
) -> BackgroundTask:
    """The copy, to run after the answer; the image has been checked for ``copy_from``."""
    svc = services(request)
    svc.images.access.authorize(context(request), image, "copy_from")
    return BackgroundTask(
        _copy,
        svc.uploads,
        context(request),
        image.id,
        _fetch(client, url, svc.settings.image_size_cap),
        meta.core.get("size"),
        meta.core.get("checksum"),
    )


async def _fetch(client: OutboundClient, url: str, cap: int) -> ByteStream:
    """The remote bytes, opened when the pipeline first asks, so that a refused or
    missing URL fails the upload (and kills the image) like any broken stream."""
    _, stream = await client.open(url, max_size=cap)
    async with aclosing(stream):
        async for chunk in stream:
            yield chunk


async def _copy(
    uploads: UploadService,
    ctx: RequestContext,
    image_id: str,
    data: ByteStream,
    size: int | None,
    checksum: str | None,
) -> None:
    # after the answer, yet still the request's work: its id stays on what the copy causes
    with request_ids.bound(ctx.request_id):
        try:
            await uploads.upload(
                ctx, image_id, data, size=size, checksum=checksum, failed_status=ImageStatus.KILLED
            )
        except SpyglassError as exc:
            log.warning("image %s: copy-from failed, image killed: %s", image_id, exc.message)
        except Exception:
            log.exception("image %s: copy-from failed", image_id)
