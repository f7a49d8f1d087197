"""``/v2/images/{image_id}/locations`` (API v2.17): list and add locations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, json_body, require_no_body, services
from spyglass.api.v2.views import location_view


async def list_locations(request: Request) -> Response:
    await require_no_body(request)
    locations = await services(request).images.get_locations(
        context(request), request.path_params["image_id"]
    )
    return JSONResponse([location_view(loc) for loc in locations])


async def add_location(request: Request) -> Response:
    await services(request).images.add_location(
        context(request), request.path_params["image_id"], await json_body(request)
    )
    return Response(status_code=202)
