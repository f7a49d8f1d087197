"""Catalog values as the API renders them: unset attributes are left out, never null."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spyglass.api.v2.views import isotime
from spyglass.domain.metadefs import (
    Association,
    MetadefObject,
    MetadefProperty,
    MetadefTag,
    Namespace,
    NamespaceContents,
    ResourceType,
    coerced_property,
)

NAMESPACES = "/v2/metadefs/namespaces"


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def namespace_view(ns: Namespace) -> dict[str, Any]:
    return _present(
        {
            "namespace": ns.namespace,
            "display_name": ns.display_name,
            "description": ns.description,
            "visibility": ns.visibility.value,
            "protected": ns.protected,
            "owner": ns.owner,
            "created_at": isotime(ns.created_at),
            "updated_at": isotime(ns.updated_at),
            "self": f"{NAMESPACES}/{ns.namespace}",
            "schema": "/v2/schemas/metadefs/namespace",
        }
    )


def association_view(assoc: Association) -> dict[str, Any]:
    return _present(
        {
            "name": assoc.name,
            "prefix": assoc.prefix,
            "properties_target": assoc.properties_target,
            "created_at": isotime(assoc.created_at),
            "updated_at": isotime(assoc.updated_at),
        }
    )


def resource_type_view(rtype: ResourceType) -> dict[str, Any]:
    return _present(
        {
            "name": rtype.name,
            "created_at": isotime(rtype.created_at),
            "updated_at": isotime(rtype.updated_at),
        }
    )


def properties_map(properties: Sequence[MetadefProperty]) -> dict[str, Any]:
    return {p.name: coerced_property(p.schema) for p in properties}


def property_view(prop: MetadefProperty) -> dict[str, Any]:
    body = {k: v for k, v in coerced_property(prop.schema).items() if k != "name"}
    return {"name": prop.name, **body}


def object_view(namespace: str, obj: MetadefObject) -> dict[str, Any]:
    return _present(
        {
            "name": obj.name,
            "description": obj.description,
            "required": list(obj.required),
            "properties": {k: coerced_property(v) for k, v in obj.properties.items()},
            "created_at": isotime(obj.created_at),
            "updated_at": isotime(obj.updated_at),
            "self": f"{NAMESPACES}/{namespace}/objects/{obj.name}",
            "schema": "/v2/schemas/metadefs/object",
        }
    )


def tag_view(tag: MetadefTag) -> dict[str, Any]:
    return _present(
        {
            "name": tag.name,
            "created_at": isotime(tag.created_at),
            "updated_at": isotime(tag.updated_at),
        }
    )


def contents_view(contents: NamespaceContents) -> dict[str, Any]:
    """The detail view: the namespace, then each kind of content it has."""
    body = namespace_view(contents.namespace)
    name = contents.namespace.namespace
    if contents.associations:
        body["resource_type_associations"] = [association_view(a) for a in contents.associations]
    if contents.properties:
        body["properties"] = properties_map(contents.properties)
    if contents.objects:
        body["objects"] = [object_view(name, o) for o in contents.objects]
    if contents.tags:
        body["tags"] = [{"name": t.name} for t in contents.tags]
    return body
