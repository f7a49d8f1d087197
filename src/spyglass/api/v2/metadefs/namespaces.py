"""``/v2/metadefs/namespaces[/{namespace}]``."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, json_body, require_no_body, services
from spyglass.api.v2.metadefs import params
from spyglass.api.v2.metadefs.common import catalog, default_owner, path
from spyglass.api.v2.metadefs.views import (
    NAMESPACES,
    association_view,
    contents_view,
    namespace_view,
)
from spyglass.domain.metadefs import NAMESPACE_SORT_KEYS, parse_namespace
from spyglass.services.metadef_ports import NamespaceQuery


def _query(request: Request) -> NamespaceQuery:
    settings = services(request).settings
    limit = params.limit(
        request, default=settings.limit_param_default, maximum=settings.api_limit_max
    )
    assert limit is not None
    types = params.query_text(request, "resource_types")
    return NamespaceQuery(
        limit=limit,
        viewer=None,
        marker=params.query_text(request, "marker"),
        sort_key=params.sort_key(request, NAMESPACE_SORT_KEYS),
        sort_dir=params.sort_dir(request),
        visibility=params.choice(request, "visibility", ("public", "private"), None),
        resource_types=None if types is None else tuple(t for t in types.split(",") if t),
    )


def _link(request: Request, marker: str | None) -> str:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    if marker is not None:
        pairs.append(("marker", marker))
    return f"{NAMESPACES}?{urlencode(pairs)}" if pairs else NAMESPACES


async def list_namespaces(request: Request) -> Response:
    await require_no_body(request)
    page = await catalog(request).list_namespaces(context(request), _query(request))
    items = []
    for namespace, associations in page.namespaces:
        item = namespace_view(namespace)
        if associations:
            item["resource_type_associations"] = [association_view(a) for a in associations]
        items.append(item)
    body = {
        "namespaces": items,
        "first": _link(request, None),
        "schema": "/v2/schemas/metadefs/namespaces",
    }
    if page.full and page.namespaces:
        body["next"] = _link(request, page.namespaces[-1][0].namespace)
    return JSONResponse(body)


async def create_namespace(request: Request) -> Response:
    contents = parse_namespace(await json_body(request), owner=default_owner(request))
    created = await catalog(request).create_namespace(context(request), contents)
    name = created.namespace.namespace
    location = str(request.url.replace(path=f"{NAMESPACES}/{quote(name, safe=':')}", query=""))
    return JSONResponse(contents_view(created), status_code=201, headers={"Location": location})


async def show_namespace(request: Request) -> Response:
    await require_no_body(request)
    params.choice(request, "visibility", ("public", "private"), None)
    contents = await catalog(request).show_namespace(
        context(request),
        path(request, "namespace"),
        resource_type=params.query_text(request, "resource_type"),
    )
    return JSONResponse(contents_view(contents))


async def update_namespace(request: Request) -> Response:
    contents = parse_namespace(await json_body(request), owner=default_owner(request))
    updated = await catalog(request).update_namespace(
        context(request), path(request, "namespace"), contents.namespace
    )
    return JSONResponse(namespace_view(updated))


async def delete_namespace(request: Request) -> Response:
    await require_no_body(request)
    await catalog(request).delete_namespace(context(request), path(request, "namespace"))
    return Response(status_code=204)
