"""Catalog values from request bodies and definition files, and back."""

from __future__ import annotations

from typing import Any

import pytest

from spyglass.domain.metadef_schemas import SCHEMA_KINDS, metadef_schema
from spyglass.domain.metadefs import (
    MetadefObject,
    MetadefProperty,
    Namespace,
    NamespaceContents,
    NamespaceVisibility,
    coerced_property,
    duplicates,
    from_file,
    parse_namespace,
    parse_object,
    parse_property,
    parse_tag_name,
    parse_tags,
    to_file,
    visible,
    with_prefix,
)
from spyglass.errors import BadRequest, Forbidden


def test_namespace_defaults_and_nested_content() -> None:
    parsed = parse_namespace(
        {
            "namespace": "OS::X",
            "resource_type_associations": [{"name": "OS::Glance::Image", "created_at": "t"}],
            "properties": {"p": {"title": "P", "type": "string"}},
            "objects": [{"name": "o", "required": ["p"]}],
            "tags": [{"name": "t"}],
        },
        owner="p1",
    )
    assert parsed.namespace == Namespace("OS::X", "p1")
    assert parsed.namespace.visibility is NamespaceVisibility.PRIVATE
    assert [a.name for a in parsed.associations] == ["OS::Glance::Image"]
    assert parsed.objects[0].required == ("p",)
    assert parsed.tags[0].name == "t"


_P = {"title": "P", "type": "string"}
_BAD_OBJECT = {"name": "o", "properties": {"p": {**_P, "items": {"z": 1}}}}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"namespace": "x", "created_at": "t"}, Forbidden),
        ({"namespace": "x", "schema": "s"}, Forbidden),
        ({"namespace": "x" * 81}, BadRequest),
        ({"namespace": "\U0001f600"}, BadRequest),
        ({"namespace": "x", "owner": "o" * 256}, BadRequest),
        ({"namespace": "x", "objects": [{"description": "no name"}]}, BadRequest),
        ({"namespace": "x", "tags": [{}]}, BadRequest),
        ({"namespace": "x", "properties": {"p": {"title": "P", "type": "x"}}}, BadRequest),
        ({"namespace": "x", "properties": {"p": {**_P, "y": 1}}}, BadRequest),
        ({"namespace": "x", "objects": [_BAD_OBJECT]}, BadRequest),
        ("text", BadRequest),
    ],
)  # fmt: skip
def test_bad_namespace_bodies(body: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_namespace(body, owner="p1")


def test_property_keeps_its_whole_body_and_object_checks_its_entries() -> None:
    prop = parse_property({"name": "p", "title": "P", "type": "integer", "minimum": 1})
    assert prop == MetadefProperty(
        "p", {"name": "p", "title": "P", "type": "integer", "minimum": 1}
    )
    with pytest.raises(BadRequest):
        parse_property({"name": "p", "title": "P"})
    obj = parse_object({"name": "o", "properties": {"p": {"title": "P", "type": "string"}}})
    assert obj.properties == {"p": {"title": "P", "type": "string"}}
    with pytest.raises(BadRequest):
        parse_object({"name": "o", "properties": {"p": {"type": "string"}}})


def test_tags() -> None:
    assert [t.name for t in parse_tags({"tags": [{"name": "a"}, {"name": "b"}]})] == ["a", "b"]
    bad_bodies: list[Any] = [{"tags": "a"}, {"tags": [], "other": 1}, {"tags": [{"x": 1}]}, []]
    for bad in bad_bodies:
        with pytest.raises(BadRequest):
            parse_tags(bad)
    with pytest.raises(BadRequest):
        parse_tag_name("t" * 81)
    assert duplicates(["a", "b", "a", "c", "b"]) == ["a", "b"]


def test_coerced_property_follows_upstreams_model() -> None:
    assert coerced_property({"default": 100, "minimum": 1.9, "maximum": 5, "enum": [1, "a"]}) == {
        "default": "100",
        "minimum": 1,
        "maximum": 5,
        "enum": ["1", "a"],
    }
    assert coerced_property({"default": True}) == {"default": "True"}
    assert coerced_property({"default": [1], "minimum": True}) == {"minimum": True}


def test_prefix_applies_to_properties_and_objects_not_tags() -> None:
    contents = NamespaceContents(
        Namespace("n", "o"),
        properties=(MetadefProperty("a", {}),),
        objects=(MetadefObject("o", required=("b",), properties={"b": {}}),),
    )
    prefixed = with_prefix(contents, "hw_")
    assert [p.name for p in prefixed.properties] == ["hw_a"]
    assert prefixed.objects[0].required == ("hw_b",)
    assert list(prefixed.objects[0].properties) == ["hw_b"]


def test_visibility_rule() -> None:
    private = Namespace("n", "p1")
    public = Namespace("n", "p1", visibility=NamespaceVisibility.PUBLIC)
    assert visible(private, is_admin=True, project_id=None)
    assert visible(private, is_admin=False, project_id="p1")
    assert not visible(private, is_admin=False, project_id="p2")
    assert not visible(private, is_admin=False, project_id=None)
    assert visible(public, is_admin=False, project_id=None)


def test_file_round_trip() -> None:
    document = {
        "namespace": "OS::X",
        "display_name": "X",
        "description": "d",
        "visibility": "public",
        "protected": True,
        "resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "x:"}],
        "properties": {"p": {"title": "P", "type": "string"}},
        "objects": [{"name": "o", "description": "d", "required": ["p"], "properties": {}}],
        "tags": [{"name": "t"}],
    }
    contents = from_file(document)
    assert contents.namespace.owner == "admin"
    assert to_file(contents) == document
    minimal = from_file({"namespace": "OS::Y"})
    assert to_file(minimal) == {
        "namespace": "OS::Y",
        "visibility": "private",
        "protected": False,
        "resource_type_associations": [],
    }
    with pytest.raises(ValueError, match="namespace"):
        from_file({"display_name": "no namespace"})


def test_every_schema_kind_has_a_document() -> None:
    for kind in SCHEMA_KINDS:
        document = metadef_schema(kind)
        assert document is not None
        assert document["name"]
    assert metadef_schema("nothing") is None
    prop = metadef_schema("property")
    assert prop is not None
    assert prop["properties"]["type"]["enum"][-1] is None  # JSON null, as upstream's
