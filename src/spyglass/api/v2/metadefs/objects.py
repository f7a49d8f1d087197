"""``/v2/metadefs/namespaces/{namespace}/objects[/{name}]``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, json_body, require_no_body
from spyglass.api.v2.metadefs import params
from spyglass.api.v2.metadefs.common import catalog, delete_all, delete_one, path
from spyglass.api.v2.metadefs.views import object_view
from spyglass.domain.metadefs import NAMESPACE_SORT_KEYS, MetadefObject, parse_object
from spyglass.errors import BadRequest
from spyglass.services.metadef_ports import Child, ChildKind


def _view(namespace: str, value: Child) -> dict[str, object]:
    assert isinstance(value, MetadefObject)
    return object_view(namespace, value)


async def list_objects(request: Request) -> Response:
    """The parameters are checked, then ignored: all objects, in database order (upstream)."""
    await require_no_body(request)
    if params.limit(request, default=None, maximum=None) == 0:
        raise BadRequest("limit param must be positive")
    params.sort_key(request, NAMESPACE_SORT_KEYS | {"name"})
    params.sort_dir(request)
    params.choice(request, "visibility", ("public", "private", "shared"), None)
    namespace = path(request, "namespace")
    found = await catalog(request).list_children(context(request), namespace, ChildKind.OBJECTS)
    return JSONResponse(
        {
            "objects": [_view(namespace, o) for o in found],
            "schema": "v2/schemas/metadefs/objects",
        }
    )


async def create_object(request: Request) -> Response:
    value = parse_object(await json_body(request))
    namespace = path(request, "namespace")
    created = await catalog(request).add_child(context(request), namespace, value)
    return JSONResponse(_view(namespace, created), status_code=201)


async def show_object(request: Request) -> Response:
    await require_no_body(request)
    namespace = path(request, "namespace")
    found = await catalog(request).show_child(
        context(request), namespace, ChildKind.OBJECTS, path(request, "name")
    )
    return JSONResponse(_view(namespace, found))


async def update_object(request: Request) -> Response:
    value = parse_object(await json_body(request))
    namespace = path(request, "namespace")
    updated = await catalog(request).replace_child(
        context(request), namespace, path(request, "name"), value
    )
    return JSONResponse(_view(namespace, updated))


delete_object = delete_one(ChildKind.OBJECTS)
delete_objects = delete_all(ChildKind.OBJECTS)
