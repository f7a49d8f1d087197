"""The JSON-schema documents of ``/v2/schemas/*``.

Clients such as python-glanceclient download these and validate what they send
against them, so their shape follows upstream's: typed base properties, string
additional properties and the ``links`` section.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spyglass.domain.image import ImageStatus, Visibility

UUID_PATTERN = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)

_STATUS_ORDER = (
    ImageStatus.QUEUED,
    ImageStatus.SAVING,
    ImageStatus.ACTIVE,
    ImageStatus.KILLED,
    ImageStatus.DELETED,
    ImageStatus.UPLOADING,
    ImageStatus.IMPORTING,
    ImageStatus.PENDING_DELETE,
    ImageStatus.DEACTIVATED,
)


def _nullable_string(description: str, max_length: int | None = None) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": ["null", "string"], "description": description}
    if max_length is not None:
        prop["maxLength"] = max_length
    return prop


def _read_only(prop: dict[str, Any]) -> dict[str, Any]:
    return {**prop, "readOnly": True}


def image_properties(
    disk_formats: Sequence[str], container_formats: Sequence[str]
) -> dict[str, Any]:
    """The base properties of the image schema, with the configured format enums."""
    return {
        "id": {"type": "string", "description": "The image's UUID.", "pattern": UUID_PATTERN},
        "name": _nullable_string("A human-readable name for the image.", 255),
        "status": {
            "type": "string",
            "readOnly": True,
            "description": "Where the image is in its life.",
            "enum": [s.value for s in _STATUS_ORDER],
        },
        "visibility": {
            "type": "string",
            "description": "Who may see the image.",
            "enum": [
                Visibility.COMMUNITY,
                Visibility.PUBLIC,
                Visibility.PRIVATE,
                Visibility.SHARED,
            ],
        },
        "protected": {"type": "boolean", "description": "Whether deletion is refused."},
        "os_hidden": {
            "type": "boolean",
            "description": "Whether default listings leave the image out.",
        },
        "checksum": _read_only(_nullable_string("MD5 hex digest of the image data.", 32)),
        "os_hash_algo": _read_only(
            _nullable_string("The algorithm that produced os_hash_value.", 64)
        ),
        "os_hash_value": _read_only(_nullable_string("Secure hash of the image data.", 128)),
        "owner": _nullable_string("The project that owns the image.", 255),
        "size": {
            "type": ["null", "integer"],
            "readOnly": True,
            "description": "Size of the image data in bytes.",
        },
        "virtual_size": {
            "type": ["null", "integer"],
            "readOnly": True,
            "description": "Size of the virtual disk in bytes.",
        },
        "container_format": {
            "type": ["null", "string"],
            "description": "Format of the image's container.",
            "enum": [None, *container_formats],
        },
        "disk_format": {
            "type": ["null", "string"],
            "description": "Format of the disk image.",
            "enum": [None, *disk_formats],
        },
        "created_at": {
            "type": "string",
            "readOnly": True,
            "description": "When the image was created.",
        },
        "updated_at": {
            "type": "string",
            "readOnly": True,
            "description": "When the image was last changed.",
        },
        "tags": {
            "type": "array",
            "description": "Labels on the image.",
            "items": {"type": "string", "maxLength": 255},
        },
        "direct_url": {
            "type": "string",
            "readOnly": True,
            "description": "Where the data lives in its store.",
        },
        "min_ram": {"type": "integer", "description": "RAM in MB needed to boot the image."},
        "min_disk": {"type": "integer", "description": "Disk in GB needed to boot the image."},
        "self": {"type": "string", "readOnly": True, "description": "The image's URL."},
        "file": {"type": "string", "readOnly": True, "description": "The image data's URL."},
        "stores": {
            "type": "string",
            "readOnly": True,
            "description": "Stores that hold the image data.",
        },
        "schema": {"type": "string", "readOnly": True, "description": "This schema's URL."},
        "locations": {
            "type": "array",
            "description": "Where the image data is stored.",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "maxLength": 255},
                    "metadata": {"type": "object"},
                    "validation_data": {
                        "type": "object",
                        "properties": {
                            "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                            "os_hash_algo": {"type": "string", "maxLength": 64},
                            "os_hash_value": {"type": "string", "maxLength": 128},
                        },
                        "required": ["os_hash_algo", "os_hash_value"],
                        "writeOnly": True,
                        "additionalProperties": False,
                    },
                },
                "required": ["url", "metadata"],
            },
        },
    }


_IMAGE_LINKS = [
    {"rel": "self", "href": "{self}"},
    {"rel": "enclosure", "href": "{file}"},
    {"rel": "describedby", "href": "{schema}"},
]


def image_schema(disk_formats: Sequence[str], container_formats: Sequence[str]) -> dict[str, Any]:
    """``GET /v2/schemas/image``: extra properties are allowed and must be strings."""
    return {
        "name": "image",
        "properties": image_properties(disk_formats, container_formats),
        "additionalProperties": {"type": "string"},
        "links": _IMAGE_LINKS,
    }


def images_schema(disk_formats: Sequence[str], container_formats: Sequence[str]) -> dict[str, Any]:
    """``GET /v2/schemas/images``: one page of a listing."""
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema(disk_formats, container_formats)},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def member_schema() -> dict[str, Any]:
    """``GET /v2/schemas/member``."""
    return {
        "name": "member",
        "properties": {
            "created_at": {"type": "string", "description": "When the member was added."},
            "image_id": {
                "type": "string",
                "description": "The shared image's UUID.",
                "pattern": UUID_PATTERN,
            },
            "member_id": {"type": "string", "description": "The project the image is shared with."},
            "schema": {"type": "string", "readOnly": True},
            "status": {
                "type": "string",
                "description": "The member's answer to the share.",
                "enum": ["pending", "accepted", "rejected"],
            },
            "updated_at": {"type": "string", "description": "When the member last changed."},
        },
    }


def members_schema() -> dict[str, Any]:
    """``GET /v2/schemas/members``."""
    return {
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }
