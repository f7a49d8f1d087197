"""``/v2/metadefs/resource_types`` and a namespace's ``resource_types`` associations."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, json_body, require_no_body
from spyglass.api.v2.metadefs.common import catalog, path
from spyglass.api.v2.metadefs.views import association_view, resource_type_view
from spyglass.domain.metadefs import parse_association


async def list_resource_types(request: Request) -> Response:
    await require_no_body(request)
    found = await catalog(request).list_resource_types(context(request))
    return JSONResponse({"resource_types": [resource_type_view(t) for t in found]})


async def list_associations(request: Request) -> Response:
    await require_no_body(request)
    found = await catalog(request).list_associations(context(request), path(request, "namespace"))
    return JSONResponse({"resource_type_associations": [association_view(a) for a in found]})


async def add_association(request: Request) -> Response:
    value = parse_association(await json_body(request))
    created = await catalog(request).add_association(
        context(request), path(request, "namespace"), value
    )
    return JSONResponse(association_view(created), status_code=201)


async def remove_association(request: Request) -> Response:
    await require_no_body(request)
    await catalog(request).remove_association(
        context(request), path(request, "namespace"), path(request, "name")
    )
    return Response(status_code=204)
