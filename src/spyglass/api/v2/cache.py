"""``/v2/cache``: the cache management API (v2.14, with v2.16's 202 and v2.18's clean/prune).

Present when ``image_cache_dir`` is set (else 404). Every answer names the
server whose cache it describes in ``x-image-cache-node``: behind a load
balancer each API server keeps its own cache, and the call acts on the one it
reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, require_no_body, services
from spyglass.errors import NotFound

if TYPE_CHECKING:
    from spyglass.cache.index import CacheEntry
    from spyglass.cache.management import CacheManager

NODE_HEADER = "x-image-cache-node"
CLEAR_TARGET_HEADER = "x-image-cache-clear-target"


def manager(request: Request) -> CacheManager:
    found = services(request).cache
    if found is None:
        raise NotFound("The image cache is not enabled on this server.")
    return found


def answer(request: Request, body: Any = None, status: int = 200) -> Response:
    """A JSON answer (or an empty one) naming this server's cache."""
    headers = {NODE_HEADER: manager(request).node}
    if status in (202, 204) and body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def entry_document(entry: CacheEntry) -> dict[str, Any]:
    return {
        "image_id": entry.image_id,
        "hits": entry.hits,
        "last_accessed": entry.last_accessed,
        "last_modified": entry.last_modified,
        "size": entry.size,
    }


async def list_cache(request: Request) -> Response:
    cached, queued = await manager(request).overview(context(request))
    return answer(
        request,
        {"cached_images": [entry_document(e) for e in cached], "queued_images": queued},
    )


async def queue_image(request: Request) -> Response:
    await require_no_body(request)
    await manager(request).queue(context(request), request.path_params["image_id"], fetch_now=True)
    return answer(request, status=202)


async def delete_image(request: Request) -> Response:
    await manager(request).delete(context(request), request.path_params["image_id"])
    return answer(request, status=204)


async def clear(request: Request) -> Response:
    target = request.headers.get(CLEAR_TARGET_HEADER, "").strip().lower()
    await manager(request).clear(context(request), target)
    return answer(request, status=204)


async def clean(request: Request) -> Response:
    await require_no_body(request)
    report = await manager(request).clean(context(request))
    return answer(
        request,
        {
            "incomplete_files_removed": report.incomplete,
            "invalid_files_removed": report.invalid,
            "orphan_files_removed": report.orphan_files,
            "orphan_entries_removed": report.orphan_entries,
            "deleted_images_removed": report.deleted_images,
        },
    )


async def prune(request: Request) -> Response:
    await require_no_body(request)
    report = await manager(request).prune(context(request))
    return answer(request, {"total_files_pruned": report.files, "total_bytes_pruned": report.bytes})


async def list_nodes(request: Request) -> Response:
    nodes = await manager(request).nodes(context(request), request.path_params["image_id"])
    return answer(request, nodes)
