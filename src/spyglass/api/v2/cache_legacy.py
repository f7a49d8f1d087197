"""The seed era's cache management routes (upstream's ``cachemanage`` middleware).

``/v1/cached_images`` and ``/v1/queued_images`` (also under ``/v2``), only with
a ``cachemanagement`` flavor. ``LegacyCachePaths`` routes the ``/v1`` spelling
here, as the v1 API itself is gone. Answers are upstream's: lists under
``cached_images``/``queued_images``, ``{"num_deleted": n}`` for bulk deletes,
``null`` (200) for single changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from spyglass.api.v2.cache import answer, entry_document, manager
from spyglass.api.v2.common import context, require_no_body
from spyglass.errors import NotFound

if TYPE_CHECKING:
    from spyglass.cache.management import CacheManager

_PREFIXES = ("/v1/cached_images", "/v1/queued_images")


class LegacyCachePaths:
    """Serve ``/v1/cached_images...`` and ``/v1/queued_images...`` as their ``/v2`` twins."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if any(path == p or path.startswith(p + "/") for p in _PREFIXES):
                scope["path"] = "/v2" + path[len("/v1") :]
                scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)


def _legacy(request: Request) -> CacheManager:
    found = manager(request)
    if not found.legacy_routes:
        raise NotFound("The cachemanagement routes need a cachemanagement flavor.")
    return found


async def list_cached(request: Request) -> Response:
    entries = await _legacy(request).list_cached(context(request))
    return answer(request, {"cached_images": [entry_document(e) for e in entries]})


async def delete_cached(request: Request) -> Response:
    await _legacy(request).delete_cached(context(request), request.path_params["image_id"])
    return answer(request, None)


async def delete_all_cached(request: Request) -> Response:
    count = await _legacy(request).clear(context(request), "cache")
    return answer(request, {"num_deleted": count})


async def list_queued(request: Request) -> Response:
    queued = await _legacy(request).list_queued(context(request))
    return answer(request, {"queued_images": queued})


async def queue_image(request: Request) -> Response:
    await require_no_body(request)
    await _legacy(request).queue(context(request), request.path_params["image_id"], fetch_now=False)
    return answer(request, None)


async def delete_queued(request: Request) -> Response:
    await _legacy(request).delete_queued(context(request), request.path_params["image_id"])
    return answer(request, None)


async def delete_all_queued(request: Request) -> Response:
    count = await _legacy(request).clear(context(request), "queue")
    return answer(request, {"num_deleted": count})
