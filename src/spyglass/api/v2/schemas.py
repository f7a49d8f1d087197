"""``GET /v2/schemas/*``: the JSON schemas clients validate against."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import require_no_body, services
from spyglass.domain import schemas


async def image_schema(request: Request) -> Response:
    await require_no_body(request)
    s = services(request).settings
    return JSONResponse(schemas.image_schema(s.disk_formats, s.container_formats))


async def images_schema(request: Request) -> Response:
    await require_no_body(request)
    s = services(request).settings
    return JSONResponse(schemas.images_schema(s.disk_formats, s.container_formats))


async def member_schema(request: Request) -> Response:
    await require_no_body(request)
    return JSONResponse(schemas.member_schema())


async def members_schema(request: Request) -> Response:
    await require_no_body(request)
    return JSONResponse(schemas.members_schema())
