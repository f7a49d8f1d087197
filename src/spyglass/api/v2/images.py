"""Handlers for ``/v2/images`` and ``/v2/images/{image_id}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from spyglass.api.errors import error_response
from spyglass.api.fast_json import FastJSONResponse
from spyglass.api.v2.common import context, json_body, require_no_body, services
from spyglass.api.v2.discovery import offered_import_methods
from spyglass.api.v2.params import parse_list_query
from spyglass.api.v2.views import image_view
from spyglass.domain.image import Image
from spyglass.domain.patch import ACCEPT_PATCH, media_type_is_legacy, parse_patch
from spyglass.errors import UnsupportedMediaType


def render(request: Request, image: Image) -> dict[str, Any]:
    """The image as JSON, without the properties this caller may not read."""
    return renderer(request)(image)


def renderer(request: Request) -> Callable[[Image], dict[str, Any]]:
    """``render`` for many images of one request (a list page): the request's services
    and context looked up once, not once per image."""
    svc, ctx = services(request), context(request)
    with_locations = svc.views.show_locations or svc.views.show_direct_url

    def render_one(image: Image) -> dict[str, Any]:
        shown = svc.images.readable(ctx, image, with_locations=with_locations)
        return image_view(shown, svc.views)

    return render_one


async def create_image(request: Request) -> Response:
    svc = services(request)
    image = await svc.images.create(context(request), await json_body(request))
    headers = {"Location": str(request.url_for("image", image_id=image.id))}
    methods = offered_import_methods(request)
    if methods:
        headers["OpenStack-image-import-methods"] = ",".join(methods)
    if svc.images.stores.multiple:
        headers["OpenStack-image-store-ids"] = ",".join(svc.images.stores.stores)
    return FastJSONResponse(render(request, image), status_code=201, headers=headers)


async def list_images(request: Request) -> Response:
    svc = services(request)
    params = list(request.query_params.multi_items())
    query = parse_list_query(
        params,
        context(request),
        default_limit=svc.settings.limit_param_default,
        max_limit=svc.settings.api_limit_max,
    )
    images, next_marker = await svc.images.list(context(request), query)
    without_marker = [(k, v) for k, v in params if k != "marker"]
    body: dict[str, object] = {
        "images": list(map(renderer(request), images)),
        "first": "/v2/images" + (f"?{urlencode(without_marker)}" if without_marker else ""),
        "schema": "/v2/schemas/images",
    }
    if next_marker:
        body["next"] = "/v2/images?" + urlencode([*without_marker, ("marker", next_marker)])
    return FastJSONResponse(body)


async def show_image(request: Request) -> Response:
    await require_no_body(request)
    svc = services(request)
    image = await svc.images.get(context(request), request.path_params["image_id"])
    return FastJSONResponse(render(request, image))


async def update_image(request: Request) -> Response:
    svc = services(request)
    try:
        legacy = media_type_is_legacy(request.headers.get("content-type"))
    except UnsupportedMediaType as exc:
        return error_response(request, 415, exc.message, {"Accept-Patch": ACCEPT_PATCH})
    changes = parse_patch(await json_body(request), legacy=legacy)
    image = await svc.images.update(context(request), request.path_params["image_id"], changes)
    return FastJSONResponse(render(request, image))


async def delete_image(request: Request) -> Response:
    await require_no_body(request)
    await services(request).images.delete(context(request), request.path_params["image_id"])
    return Response(status_code=204)


async def add_tag(request: Request) -> Response:
    await require_no_body(request)
    await services(request).images.add_tag(
        context(request), request.path_params["image_id"], request.path_params["tag"]
    )
    return Response(status_code=204)


async def delete_tag(request: Request) -> Response:
    await require_no_body(request)
    await services(request).images.delete_tag(
        context(request), request.path_params["image_id"], request.path_params["tag"]
    )
    return Response(status_code=204)


async def deactivate(request: Request) -> Response:
    await require_no_body(request)
    await services(request).images.deactivate(context(request), request.path_params["image_id"])
    return Response(status_code=204)


async def reactivate(request: Request) -> Response:
    await require_no_body(request)
    await services(request).images.reactivate(context(request), request.path_params["image_id"])
    return Response(status_code=204)
