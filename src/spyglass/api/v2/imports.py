"""``PUT /v2/images/{id}/stage`` and ``POST /v2/images/{id}/import``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from spyglass.api.v2.common import context, json_body, services
from spyglass.api.v2.image_data import body_stream, content_length, declared_size
from spyglass.errors import NotFound, StoreUnavailable, UnsupportedMediaType
from spyglass.lazy import lazy_module
from spyglass.services.imports import ImportService, ProxyTo

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")  # loaded by the first proxied import call

_FORWARDED = (
    "x-auth-token",
    "x-identity-status",
    "x-project-id",
    "x-user-id",
    "x-roles",
    "x-openstack-request-id",
    "x-image-meta-store",
)
"""What the worker holding the staged data needs to act as the caller (upstream
forwards the caller's token the same way)."""


def _imports(request: Request) -> ImportService:
    imports = services(request).imports
    if imports is None:
        raise NotFound("Image import is not available.")
    return imports


async def stage(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    imports = _imports(request)
    if content_type != "application/octet-stream":
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'} is not supported for image data: "
            "use application/octet-stream."
        )
    await imports.stage(
        context(request),
        request.path_params["image_id"],
        body_stream(request),
        size=declared_size(request),
        length_hint=content_length(request),
    )
    return Response(status_code=204)


async def import_image(request: Request) -> Response:
    imports = _imports(request)
    body = await json_body(request)
    answer = await imports.import_image(
        context(request),
        request.path_params["image_id"],
        body,
        header_store=request.headers.get("x-image-meta-store"),
    )
    if isinstance(answer, ProxyTo):
        return await _proxy(request, answer, body)
    return Response(status_code=202)


async def _proxy(request: Request, target: ProxyTo, body: object) -> Response:
    """Ask the worker that staged the data to run the import; relay its answer."""
    url = f"{target.url.rstrip('/')}/v2/images/{request.path_params['image_id']}/import"
    headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=60) as client:
            answer = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise StoreUnavailable(
            f"The worker holding the staged data ({target.url}) did not answer: {exc}"
        ) from exc
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type=answer.headers.get("content-type"),
    )
