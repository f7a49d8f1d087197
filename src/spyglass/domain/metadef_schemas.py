"""JSON-schema documents of the metadata definitions catalog (``/v2/schemas/metadefs/*``).

The shapes are upstream's (tempest and the clients read them); the description
texts are ours. Request bodies are validated against the same documents, so what
a client checks before sending is what the server enforces.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

NAME_MAX = 80
DESCRIPTION_MAX = 500
OWNER_MAX = 255

PROPERTY_TYPES = ["array", "boolean", "integer", "number", "object", "string"]


def _string(description: str, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def _read_only(description: str, fmt: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "readOnly": True, "description": description}
    if fmt:
        schema["format"] = fmt
    return schema


def _times() -> dict[str, Any]:
    return {
        "created_at": _read_only("When the definition was created (UTC).", "date-time"),
        "updated_at": _read_only("When the definition was last changed (UTC).", "date-time"),
    }


def _links() -> dict[str, Any]:
    return {
        "self": _read_only("Where this definition is."),
        "schema": _read_only("Where the schema of this definition is."),
    }


def _property_entry() -> dict[str, Any]:
    """One property definition: a JSON-schema fragment with a title and a type."""
    string_array = {"$ref": "#/definitions/stringArray"}
    return {
        "type": "object",
        "required": ["title", "type"],
        "properties": {
            "name": _string("The property's key.", NAME_MAX),
            "title": _string("A short label for forms."),
            "description": _string("What the property means."),
            "operators": {"type": "array", "items": {"type": "string"}},
            "type": {"type": "string", "enum": [*PROPERTY_TYPES, None]},
            "required": string_array,
            "minimum": {"type": "number"},
            "maximum": {"type": "number"},
            "maxLength": {"$ref": "#/definitions/positiveInteger"},
            "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
            "pattern": {"type": "string", "format": "regex"},
            "enum": {"type": "array"},
            "readonly": {"type": "boolean"},
            "default": {},
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": [*PROPERTY_TYPES, None]},
                    "enum": {"type": "array"},
                },
            },
            "maxItems": {"$ref": "#/definitions/positiveInteger"},
            "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
            "uniqueItems": {"type": "boolean", "default": False},
            "additionalItems": {"type": "boolean"},
        },
    }


def _definitions(*, with_property: bool, string_array_min: bool = False) -> dict[str, Any]:
    string_array: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if string_array_min:
        string_array["minItems"] = 1
    string_array["uniqueItems"] = True
    defs: dict[str, Any] = {
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {
            "allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]
        },
        "stringArray": string_array,
    }
    if with_property:
        defs["property"] = {"type": "object", "additionalProperties": _property_entry()}
    return defs


def _association_properties() -> dict[str, Any]:
    return {
        "name": _string("A resource type, such as OS::Glance::Image.", NAME_MAX),
        "prefix": _string("Put before each property name for this resource type.", NAME_MAX),
        "properties_target": _string(
            "Which part of the resource the properties apply to.", NAME_MAX
        ),
    }


def namespace_schema() -> dict[str, Any]:
    return {
        "name": "namespace",
        "properties": {
            "namespace": _string("The namespace's unique name.", NAME_MAX),
            "display_name": _string("The name shown to people.", NAME_MAX),
            "description": _string("What the namespace holds.", DESCRIPTION_MAX),
            "visibility": {
                "type": "string",
                "enum": ["public", "private"],
                "description": "Who may see the namespace besides its owner.",
            },
            "protected": {"type": "boolean", "description": "Whether it may be deleted."},
            "owner": _string("The project that owns the namespace.", OWNER_MAX),
            **_times(),
            **_links(),
            "resource_type_associations": {
                "type": "array",
                "items": {"type": "object", "properties": _association_properties()},
            },
            "properties": {"$ref": "#/definitions/property"},
            "objects": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "required": {"$ref": "#/definitions/stringArray"},
                        "properties": {"$ref": "#/definitions/property"},
                    },
                },
            },
            "tags": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
        },
        "additionalProperties": False,
        "required": ["namespace"],
        "definitions": _definitions(with_property=True),
    }


def object_schema() -> dict[str, Any]:
    return {
        "name": "object",
        "properties": {
            "name": _string("The object's name, unique in its namespace.", NAME_MAX),
            "description": _string("What the object groups."),
            "required": {"$ref": "#/definitions/stringArray"},
            "properties": {"$ref": "#/definitions/property"},
            **_links(),
            **_times(),
        },
        "additionalProperties": False,
        "required": ["name"],
        "definitions": _definitions(with_property=True),
    }


def property_schema(*, required: tuple[str, ...] = ("type", "title", "name")) -> dict[str, Any]:
    entry = _property_entry()["properties"]
    return {
        "name": "property",
        "properties": entry,
        "additionalProperties": False,
        "required": list(required),
        "definitions": _definitions(with_property=False, string_array_min=True),
    }


def tag_schema() -> dict[str, Any]:
    return {
        "name": "tag",
        "properties": {"name": _string("The tag, unique in its namespace.", NAME_MAX), **_times()},
        "additionalProperties": False,
        "required": ["name"],
    }


def resource_type_schema() -> dict[str, Any]:
    return {
        "name": "resource_type_association",
        "properties": {**_association_properties(), **_times()},
        "additionalProperties": False,
        "required": ["name"],
    }


def _collection(
    name: str, key: str, item: dict[str, Any], *, as_map: bool = False
) -> dict[str, Any]:
    item = copy.deepcopy(item)
    definitions = item.pop("definitions", None)
    items: dict[str, Any] = (
        {"type": "object", "additionalProperties": item}
        if as_map
        else {"type": "array", "items": item}
    )
    schema: dict[str, Any] = {
        "name": name,
        "properties": {
            key: items,
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
    if definitions:
        schema["definitions"] = definitions
    return schema


def metadef_schema(kind: str) -> dict[str, Any] | None:
    """The document served at ``/v2/schemas/metadefs/{kind}``, or None for an unknown kind."""
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "namespace": namespace_schema,
        "namespaces": lambda: _collection("namespaces", "namespaces", namespace_schema()),
        "object": object_schema,
        "objects": lambda: _collection("objects", "objects", object_schema()),
        "property": property_schema,
        "properties": lambda: _collection(
            "properties", "properties", property_schema(required=("type", "title")), as_map=True
        ),
        "tag": tag_schema,
        "tags": lambda: _collection("tags", "tags", tag_schema()),
        "resource_type": resource_type_schema,
        "resource_types": lambda: _collection(
            "resource_type_associations", "resource_type_associations", resource_type_schema()
        ),
    }
    builder = builders.get(kind)
    return None if builder is None else builder()


SCHEMA_KINDS = (
    "namespace",
    "namespaces",
    "object",
    "objects",
    "property",
    "properties",
    "tag",
    "tags",
    "resource_type",
    "resource_types",
)
