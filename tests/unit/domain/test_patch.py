"""Glance's JSON-patch dialect: what parses and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from spyglass.domain.patch import (
    MEDIA_TYPE_V20,
    MEDIA_TYPE_V21,
    Change,
    PatchOp,
    media_type_is_legacy,
    parse_patch,
)
from spyglass.errors import BadRequest, UnsupportedMediaType


def test_media_types() -> None:
    assert media_type_is_legacy(MEDIA_TYPE_V21) is False
    assert media_type_is_legacy(MEDIA_TYPE_V20 + "; charset=utf-8") is True
    for other in (None, "application/json", "application/json-patch+json"):
        with pytest.raises(UnsupportedMediaType):
            media_type_is_legacy(other)


def test_v21_operations() -> None:
    changes = parse_patch(
        [
            {"op": "add", "path": "/a~1b", "value": "x"},
            {"op": "remove", "path": "/c~0d"},
            {"op": "replace", "path": "/locations", "value": []},
            {"op": "add", "path": "/locations/-", "value": {}},
        ],
        legacy=False,
    )
    assert changes == [
        Change(PatchOp.ADD, ("a/b",), "x"),
        Change(PatchOp.REMOVE, ("c~d",)),
        Change(PatchOp.REPLACE, ("locations",), []),
        Change(PatchOp.ADD, ("locations", "-"), {}),
    ]


def test_v20_operations() -> None:
    [change] = parse_patch([{"replace": "/name", "value": "n"}], legacy=True)
    assert change == Change(PatchOp.REPLACE, ("name",), "n", legacy=True)


@pytest.mark.parametrize(
    "body",
    [
        {"op": "add"},
        [1],
        [{"path": "/a", "value": 1}],
        [{"op": "add", "value": 1}],
        [{"op": "move", "path": "/a", "value": 1}],
        [{"op": "test", "path": "/a", "value": 1}],
        [{"op": "add", "path": "/a"}],
        [{"op": "add", "path": "a", "value": 1}],
        [{"op": "add", "path": "/a/", "value": 1}],
        [{"op": "add", "path": "//a", "value": 1}],
        [{"op": "add", "path": "/a~2", "value": 1}],
        [{"op": "add", "path": "/a/b", "value": 1}],
        [{"op": "replace", "path": "/locations/0", "value": 1}],
        [{"op": "remove", "path": "/locations"}],
        [{"op": "add", "path": 5, "value": 1}],
    ],
)
def test_v21_refusals(body: Any) -> None:
    with pytest.raises(BadRequest):
        parse_patch(body, legacy=False)


@pytest.mark.parametrize(
    "body",
    [[{"add": "/a", "remove": "/b", "value": 1}], [{"op": "add", "path": "/a", "value": 1}]],
)
def test_v20_needs_exactly_one_operation_key(body: Any) -> None:
    with pytest.raises(BadRequest):
        parse_patch(body, legacy=True)
