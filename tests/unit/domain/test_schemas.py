"""The published schemas keep upstream's shape (descriptions are our own words)."""

from __future__ import annotations

from typing import Any

import jsonschema

from spyglass.domain.schemas import image_schema, images_schema, member_schema, members_schema

FORMATS = (["raw", "qcow2"], ["bare", "ovf"])


def test_schemas_are_valid_draft4() -> None:
    for schema in (image_schema(*FORMATS), images_schema(*FORMATS), member_schema(),
                   members_schema()):  # fmt: skip
        jsonschema.Draft4Validator.check_schema(schema)


def test_image_schema_shape() -> None:
    schema: dict[str, Any] = image_schema(*FORMATS)
    assert schema["name"] == "image"
    assert schema["additionalProperties"] == {"type": "string"}
    assert [link["rel"] for link in schema["links"]] == ["self", "enclosure", "describedby"]
    props = schema["properties"]
    assert props["disk_format"]["enum"] == [None, "raw", "qcow2"]
    assert props["container_format"]["enum"] == [None, "bare", "ovf"]
    read_only = {k for k, v in props.items() if v.get("readOnly")}
    assert read_only == {"status", "checksum", "os_hash_algo", "os_hash_value", "size",
                         "virtual_size", "created_at", "updated_at", "direct_url", "self",
                         "file", "stores", "schema"}  # fmt: skip
    validator = jsonschema.Draft4Validator(schema)
    assert validator.is_valid({"name": None, "tags": ["a"], "custom": "x"})
    assert not validator.is_valid({"custom": 1})
    assert not validator.is_valid({"id": "not-a-uuid"})
