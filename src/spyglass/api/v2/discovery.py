"""``/v2/info/*``: import methods, stores, and the caller's usage."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, require_no_body, services
from spyglass.errors import NotFound

MIB = 1024 * 1024


async def import_methods(request: Request) -> Response:
    await require_no_body(request)
    methods = list(services(request).settings.enabled_import_methods)
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
    """Only with multiple stores configured, as upstream (404 otherwise)."""
    await require_no_body(request)
    raise NotFound("Multiple backends are not configured.")


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
