"""``/v2/info/*``: import methods, stores, and the caller's usage."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, require_no_body, services
from spyglass.errors import NotFound
from spyglass.services.stores import StoreService

MIB = 1024 * 1024


def offered_import_methods(request: Request) -> list[str]:
    """``enabled_import_methods``, or none where imports are not served (a registry)."""
    svc = services(request)
    return list(svc.settings.enabled_import_methods) if svc.imports is not None else []


async def import_methods(request: Request) -> Response:
    await require_no_body(request)
    methods = offered_import_methods(request)
    return JSONResponse(
        {
            "import-methods": {
                "description": "Import methods available.",
                "type": "array",
                "value": methods,
            }
        }
    )


async def stores(request: Request) -> Response:
    """The enabled backends; only with ``enabled_backends`` configured (404 otherwise)."""
    await require_no_body(request)
    return JSONResponse({"stores": store_service(request).info()})


async def stores_detail(request: Request) -> Response:
    """The backends with their type, properties and weight (``stores_info_detail``: admins)."""
    await require_no_body(request)
    return JSONResponse({"stores": store_service(request).detail(context(request))})


def store_service(request: Request) -> StoreService:
    svc = services(request).stores
    if svc is None:
        raise NotFound("Multi backend is not supported at this site.")
    return svc


async def usage(request: Request) -> Response:
    """The caller's project: bytes (MiB) against ``user_storage_quota``, images, uploads."""
    await require_no_body(request)
    svc = services(request)
    ctx = context(request)
    used = await svc.images.repo.usage(ctx.project_id)
    quota = svc.uploads.storage_quota
    return JSONResponse(
        {
            "usage": {
                "image_size_total": {
                    "limit": -1 if quota is None else quota // MIB,
                    "usage": used.size // MIB,
                },
                "image_count_total": {"limit": -1, "usage": used.images},
                "image_stage_total": {"limit": -1, "usage": 0},
                "image_count_uploading": {"limit": -1, "usage": used.uploading},
            }
        }
    )
