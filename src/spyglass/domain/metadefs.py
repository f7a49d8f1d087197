"""The metadata definitions catalog (metadefs): namespaces and what they define.

A namespace groups property definitions (JSON-schema fragments), objects (named
groups of properties), tags, and its associations with resource types
(``OS::Glance::Image``, ``OS::Nova::Flavor``...). This module holds the values
and turns request bodies and upstream's definition files into them; storage
and policy live elsewhere.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from spyglass.domain import metadef_schemas as schemas
from spyglass.domain.validation import SchemaValidator
from spyglass.errors import BadRequest, Forbidden


class NamespaceVisibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class Namespace:
    namespace: str
    owner: str
    visibility: NamespaceVisibility = NamespaceVisibility.PRIVATE
    protected: bool = False
    display_name: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MetadefProperty:
    """A property definition; ``schema`` is the stored JSON-schema fragment."""

    name: str
    schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MetadefObject:
    name: str
    description: str | None = None
    required: tuple[str, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MetadefTag:
    name: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str
    protected: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Association:
    """A namespace's tie to a resource type, with the prefix its properties take there."""

    name: str
    prefix: str | None = None
    properties_target: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NamespaceContents:
    """A namespace with everything it defines (show, create, load and export)."""

    namespace: Namespace
    associations: tuple[Association, ...] = ()
    properties: tuple[MetadefProperty, ...] = ()
    objects: tuple[MetadefObject, ...] = ()
    tags: tuple[MetadefTag, ...] = ()


NAMESPACE_SORT_KEYS = frozenset(
    {"id", "namespace", "display_name", "description", "visibility", "protected", "owner",
     "created_at", "updated_at"}
)  # fmt: skip
TAG_SORT_KEYS = frozenset({"id", "name", "created_at", "updated_at"})


def visible(namespace: Namespace, *, is_admin: bool, project_id: str | None) -> bool:
    """Upstream's database rule: admins see all; others public ones and their own."""
    return (
        is_admin
        or namespace.visibility is NamespaceVisibility.PUBLIC
        or (project_id is not None and namespace.owner == project_id)
    )


def policy_target(namespace: Namespace) -> dict[str, Any]:
    return {"project_id": namespace.owner, "visibility": namespace.visibility.value}


# -- request bodies ------------------------------------------------------------------------


@functools.cache
def _validator(kind: str) -> SchemaValidator:
    builders = {
        "namespace": schemas.namespace_schema,
        "object": schemas.object_schema,
        "property": schemas.property_schema,
        "inner_property": lambda: schemas.property_schema(required=("type", "title")),
        "tag": schemas.tag_schema,
        "resource_type": schemas.resource_type_schema,
    }
    return SchemaValidator(builders[kind]())


_READ_ONLY = {
    "namespace": ("created_at", "updated_at", "self", "schema"),
    "object": ("created_at", "updated_at", "self", "schema"),
    "property": ("created_at", "updated_at"),
    "tag": ("created_at", "updated_at"),
    "resource_type": ("created_at", "updated_at"),
}
_ENTRY_KEYS = frozenset(schemas.property_schema()["properties"])
_ITEM_KEYS = frozenset({"type", "enum"})


def _no_astral(value: Any) -> None:
    """Upstream refuses 4-byte UTF-8 characters (MySQL's utf8 cannot hold them)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if any(ord(char) > 0xFFFF for char in item):
                raise BadRequest("4 byte unicode characters are not supported.")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def checked_body(body: Any, kind: str) -> dict[str, Any]:
    """A request document: read-only keys (403), 4-byte characters (400), schema (400)."""
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    for key in _READ_ONLY[kind]:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")
    if kind != "resource_type":
        _no_astral(body)
    _validator(kind).validate(body)
    return body


def _check_entries(properties: Mapping[str, Any]) -> None:
    """Nested property definitions: upstream's schema lets unknown keys through to a 500."""
    for name, entry in properties.items():
        unknown = set(entry) - _ENTRY_KEYS
        items = entry.get("items")
        if isinstance(items, dict):
            unknown |= set(items) - _ITEM_KEYS
        if unknown:
            raise BadRequest(f"Property {name!r} has unknown keys: {', '.join(sorted(unknown))}")


def parse_property(body: Any) -> MetadefProperty:
    document = checked_body(body, "property")
    _check_entries({document["name"]: document})
    return MetadefProperty(document["name"], dict(document))


def parse_object(body: Any) -> MetadefObject:
    document = checked_body(body, "object")
    properties = document.get("properties") or {}
    for entry in properties.values():
        _validator("inner_property").validate(entry)
    _check_entries(properties)
    return MetadefObject(
        name=document["name"],
        description=document.get("description"),
        required=tuple(document.get("required") or ()),
        properties=properties,
    )


def parse_tag_name(name: str) -> MetadefTag:
    checked_body({"name": name}, "tag")
    return MetadefTag(name)


def parse_tag(body: Any) -> MetadefTag:
    return MetadefTag(checked_body(body, "tag")["name"])


def parse_tags(body: Any) -> list[MetadefTag]:
    """The bulk tag document ``{"tags": [{"name"}...]}``; a duplicate inside it is 409 later."""
    if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
        raise BadRequest('Request body must be an object with a "tags" list.')
    if set(body) - {"tags"}:
        raise BadRequest('Request body may only hold "tags".')
    return [parse_tag(item) for item in body["tags"]]


def parse_association(body: Any) -> Association:
    document = checked_body(body, "resource_type")
    return Association(
        name=document["name"],
        prefix=document.get("prefix"),
        properties_target=document.get("properties_target"),
    )


def parse_namespace(body: Any, *, owner: str) -> NamespaceContents:
    """A namespace create or full replacement (PUT); nested children only on create."""
    document = checked_body(body, "namespace")
    properties = document.get("properties") or {}
    _check_entries(properties)
    objects = []
    for item in document.get("objects") or ():
        _check_entries(item.get("properties") or {})
        objects.append(
            MetadefObject(
                name=_named(item),
                description=item.get("description"),
                required=tuple(item.get("required") or ()),
                properties=item.get("properties") or {},
            )
        )
    namespace = Namespace(
        namespace=document["namespace"],
        owner=document.get("owner") or owner,
        visibility=NamespaceVisibility(document.get("visibility") or "private"),
        protected=bool(document.get("protected", False)),
        display_name=document.get("display_name"),
        description=document.get("description"),
    )
    return NamespaceContents(
        namespace=namespace,
        associations=tuple(  # as the client read them back: timestamps are ignored here
            Association(_named(a), a.get("prefix"), a.get("properties_target"))
            for a in document.get("resource_type_associations") or ()
        ),
        properties=tuple(MetadefProperty(k, v) for k, v in properties.items()),
        objects=tuple(objects),
        tags=tuple(MetadefTag(_named(t)) for t in document.get("tags") or ()),
    )


def _named(item: Mapping[str, Any]) -> str:
    """A nested entry's name; upstream's schema does not require it, its code does."""
    name = item.get("name")
    if not isinstance(name, str) or not name or len(name) > schemas.NAME_MAX:
        raise BadRequest("Each resource type association, object and tag needs a name.")
    return name


def duplicates(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    return [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]


# -- rendering helpers ---------------------------------------------------------------------


def coerced_property(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A property as upstream's API model returns it: ``default`` as text, ``minimum`` and
    ``maximum`` as integers, ``enum`` entries as text; a list or object default is dropped."""
    out = dict(schema)
    if "default" in out:
        default = out["default"]
        if isinstance(default, (list, dict)) or default is None:
            del out["default"]
        else:
            out["default"] = str(default)
    for key in ("minimum", "maximum"):
        if isinstance(out.get(key), (int, float)) and not isinstance(out[key], bool):
            out[key] = int(out[key])
    if isinstance(out.get("enum"), list):
        out["enum"] = [str(v) if not isinstance(v, str) else v for v in out["enum"]]
    return out


def with_prefix(contents: NamespaceContents, prefix: str) -> NamespaceContents:
    """``?resource_type=``: property keys and objects' required names as that type sees them."""
    return replace(
        contents,
        properties=tuple(MetadefProperty(prefix + p.name, p.schema) for p in contents.properties),
        objects=tuple(
            replace(
                o,
                required=tuple(prefix + r for r in o.required),
                properties={prefix + k: v for k, v in o.properties.items()},
            )
            for o in contents.objects
        ),
    )


# -- upstream's definition files ----------------------------------------------------------


def from_file(document: Mapping[str, Any]) -> NamespaceContents:
    """One ``etc/metadefs/*.json`` document; every key but ``namespace`` may be missing."""
    if not isinstance(document, Mapping) or not isinstance(document.get("namespace"), str):
        raise ValueError("a definition file must be an object with a 'namespace' name")
    namespace = Namespace(
        namespace=document["namespace"],
        owner=document.get("owner") or "admin",
        visibility=NamespaceVisibility(document.get("visibility") or "private"),
        protected=bool(document.get("protected") or False),
        display_name=document.get("display_name"),
        description=document.get("description"),
    )
    return NamespaceContents(
        namespace=namespace,
        associations=tuple(
            Association(_named(a), a.get("prefix"), a.get("properties_target"))
            for a in document.get("resource_type_associations") or ()
        ),
        properties=tuple(
            MetadefProperty(k, v) for k, v in (document.get("properties") or {}).items()
        ),
        objects=tuple(
            MetadefObject(
                name=o["name"],
                description=o.get("description"),
                required=tuple(o.get("required") or ()),
                properties=o.get("properties") or {},
            )
            for o in document.get("objects") or ()
        ),
        tags=tuple(MetadefTag(t["name"]) for t in document.get("tags") or ()),
    )


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def to_file(contents: NamespaceContents) -> dict[str, Any]:
    """The export document in upstream's file format, without ``owner``.

    Unset values and empty collections are left out, as upstream's own files leave
    them out, so exporting what was loaded gives the files back; objects keep
    ``required`` when they have one.
    """
    ns = contents.namespace
    document: dict[str, Any] = _without_none(
        {
            "namespace": ns.namespace,
            "display_name": ns.display_name,
            "description": ns.description,
            "visibility": ns.visibility.value,
            "protected": ns.protected,
        }
    )
    document["resource_type_associations"] = [
        _without_none(
            {"name": a.name, "prefix": a.prefix, "properties_target": a.properties_target}
        )
        for a in contents.associations
    ]
    if contents.properties:
        document["properties"] = {p.name: dict(p.schema) for p in contents.properties}
    if contents.objects:
        document["objects"] = [
            _without_none(
                {
                    "name": o.name,
                    "description": o.description,
                    "required": list(o.required) or None,
                    "properties": dict(o.properties),
                }
            )
            for o in contents.objects
        ]
    if contents.tags:
        document["tags"] = [{"name": t.name} for t in contents.tags]
    return document
