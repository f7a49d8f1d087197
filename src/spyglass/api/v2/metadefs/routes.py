"""The catalog's routes, built with the v2 table's ``resource`` helper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spyglass.api.v2.common import require_no_body
from spyglass.api.v2.metadefs import namespaces, objects, properties, resource_types, tags
from spyglass.domain.metadef_schemas import SCHEMA_KINDS, metadef_schema

Handler = Callable[[Request], Awaitable[Response]]
NS = "/v2/metadefs/namespaces/{namespace}"


def _schema(kind: str) -> Handler:
    async def handler(request: Request) -> Response:
        await require_no_body(request)
        return JSONResponse(metadef_schema(kind))

    return handler


def metadef_routes(resource: Callable[..., Route]) -> list[Route]:
    return [
        resource(
            "/v2/metadefs/namespaces",
            GET=namespaces.list_namespaces,
            POST=namespaces.create_namespace,
        ),
        resource(
            NS,
            GET=namespaces.show_namespace,
            PUT=namespaces.update_namespace,
            DELETE=namespaces.delete_namespace,
        ),
        resource(
            f"{NS}/objects",
            GET=objects.list_objects,
            POST=objects.create_object,
            DELETE=objects.delete_objects,
        ),
        resource(
            f"{NS}/objects/{{name}}",
            GET=objects.show_object,
            PUT=objects.update_object,
            DELETE=objects.delete_object,
        ),
        resource(
            f"{NS}/properties",
            GET=properties.list_properties,
            POST=properties.create_property,
            DELETE=properties.delete_properties,
        ),
        resource(
            f"{NS}/properties/{{name}}",
            GET=properties.show_property,
            PUT=properties.update_property,
            DELETE=properties.delete_property,
        ),
        resource(f"{NS}/tags", GET=tags.list_tags, POST=tags.create_tags, DELETE=tags.delete_tags),
        resource(
            f"{NS}/tags/{{name}}",
            GET=tags.show_tag,
            POST=tags.create_tag,
            PUT=tags.update_tag,
            DELETE=tags.delete_tag,
        ),
        resource(
            f"{NS}/resource_types",
            GET=resource_types.list_associations,
            POST=resource_types.add_association,
        ),
        resource(f"{NS}/resource_types/{{name}}", DELETE=resource_types.remove_association),
        resource("/v2/metadefs/resource_types", GET=resource_types.list_resource_types),
        *(resource(f"/v2/schemas/metadefs/{kind}", GET=_schema(kind)) for kind in SCHEMA_KINDS),
    ]
