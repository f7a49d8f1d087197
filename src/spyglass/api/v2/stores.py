"""``DELETE /v2/stores/{store_id}/{image_id}``: remove one store's copy of an image."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from spyglass.api.v2.common import context, require_no_body
from spyglass.api.v2.discovery import store_service


async def delete_from_store(request: Request) -> Response:
    await require_no_body(request)
    await store_service(request).delete_from_store(
        context(request), request.path_params["store_id"], request.path_params["image_id"]
    )
    return Response(status_code=204)
