"""``/v2/metadefs/namespaces/{namespace}/tags[/{name}]``, with bulk create."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, json_body, require_no_body
from spyglass.api.v2.metadefs import params
from spyglass.api.v2.metadefs.common import catalog, delete_all, delete_one, path
from spyglass.api.v2.metadefs.views import tag_view
from spyglass.domain.metadefs import (
    TAG_SORT_KEYS,
    MetadefTag,
    parse_tag,
    parse_tag_name,
    parse_tags,
)
from spyglass.services.metadef_ports import Child, ChildKind, TagQuery


def _view(value: Child) -> dict[str, object]:
    assert isinstance(value, MetadefTag)
    return tag_view(value)


async def list_tags(request: Request) -> Response:
    await require_no_body(request)
    query = TagQuery(
        limit=params.limit(request, default=None, maximum=None) or None,
        marker=params.query_text(request, "marker"),
        sort_key=params.sort_key(request, TAG_SORT_KEYS),
        sort_dir=params.sort_dir(request),
    )
    params.choice(request, "visibility", ("public", "private", "shared"), None)
    found = await catalog(request).list_tags(context(request), path(request, "namespace"), query)
    return JSONResponse({"tags": [{"name": t.name} for t in found]})


async def create_tags(request: Request) -> Response:
    """Bulk create; ``X-Openstack-Append`` keeps the existing tags, else they are replaced."""
    tags = parse_tags(await json_body(request))
    created = await catalog(request).add_tags(
        context(request),
        path(request, "namespace"),
        tags,
        append=params.header_bool(request, "x-openstack-append"),
    )
    return JSONResponse({"tags": [{"name": t.name} for t in created]}, status_code=201)


async def create_tag(request: Request) -> Response:
    await require_no_body(request)
    service, ctx, namespace = catalog(request), context(request), path(request, "namespace")
    await service.check_namespace(ctx, namespace)
    created = await service.add_child(ctx, namespace, parse_tag_name(path(request, "name")))
    return JSONResponse(_view(created), status_code=201)


async def show_tag(request: Request) -> Response:
    await require_no_body(request)
    found = await catalog(request).show_child(
        context(request), path(request, "namespace"), ChildKind.TAGS, path(request, "name")
    )
    return JSONResponse(_view(found))


async def update_tag(request: Request) -> Response:
    value = parse_tag(await json_body(request))
    updated = await catalog(request).replace_child(
        context(request), path(request, "namespace"), path(request, "name"), value
    )
    return JSONResponse(_view(updated))


delete_tag = delete_one(ChildKind.TAGS)
delete_tags = delete_all(ChildKind.TAGS)
