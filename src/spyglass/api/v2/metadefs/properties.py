"""``/v2/metadefs/namespaces/{namespace}/properties[/{name}]``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, json_body, require_no_body
from spyglass.api.v2.metadefs import params
from spyglass.api.v2.metadefs.common import catalog, delete_all, delete_one, path
from spyglass.api.v2.metadefs.views import properties_map, property_view
from spyglass.domain.metadefs import MetadefProperty, parse_property
from spyglass.services.metadef_ports import Child, ChildKind


def _view(value: Child) -> dict[str, object]:
    assert isinstance(value, MetadefProperty)
    return property_view(value)


async def list_properties(request: Request) -> Response:
    await require_no_body(request)
    found = await catalog(request).list_children(
        context(request), path(request, "namespace"), ChildKind.PROPERTIES
    )
    props = [p for p in found if isinstance(p, MetadefProperty)]
    return JSONResponse({"properties": properties_map(props)})


async def create_property(request: Request) -> Response:
    value = parse_property(await json_body(request))
    created = await catalog(request).add_child(context(request), path(request, "namespace"), value)
    return JSONResponse(_view(created), status_code=201)


async def show_property(request: Request) -> Response:
    await require_no_body(request)
    found = await catalog(request).show_child(
        context(request),
        path(request, "namespace"),
        ChildKind.PROPERTIES,
        path(request, "name"),
        resource_type=params.query_text(request, "resource_type"),
    )
    return JSONResponse(_view(found))


async def update_property(request: Request) -> Response:
    value = parse_property(await json_body(request))
    updated = await catalog(request).replace_child(
        context(request), path(request, "namespace"), path(request, "name"), value
    )
    return JSONResponse(_view(updated))


delete_property = delete_one(ChildKind.PROPERTIES)
delete_properties = delete_all(ChildKind.PROPERTIES)
