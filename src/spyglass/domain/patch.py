"""Glance's JSON-patch dialect, parsed into typed changes.

Glance accepts two media types: ``openstack-images-v2.1-json-patch`` (an RFC 6902
subset: ``{"op": "add", "path": "/x", "value": ...}``) and the older
``openstack-images-v2.0-json-patch`` (``{"add": "/x", "value": ...}``). Both
allow only add, remove and replace, and paths one level deep except under
``/locations``. Parsing is kept apart from applying so that a bad third
operation is refused before anything changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from spyglass.errors import BadRequest, UnsupportedMediaType

MEDIA_TYPE_V21 = "application/openstack-images-v2.1-json-patch"
MEDIA_TYPE_V20 = "application/openstack-images-v2.0-json-patch"
ACCEPT_PATCH = f"{MEDIA_TYPE_V20}, {MEDIA_TYPE_V21}"


class PatchOp(StrEnum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class Change:
    """One operation: ``path`` is the decoded JSON pointer, e.g. ``("locations", "0")``."""

    op: PatchOp
    path: tuple[str, ...]
    value: Any = None
    legacy: bool = False
    """True under the 2.0 media type, whose ``add`` refuses existing names."""

    @property
    def name(self) -> str:
        return self.path[0]


_ESCAPE = re.compile(r"~(?![01])")


def media_type_is_legacy(content_type: str | None) -> bool:
    """Tell the two patch media types apart; anything else is 415."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == MEDIA_TYPE_V21:
        return False
    if media == MEDIA_TYPE_V20:
        return True
    raise UnsupportedMediaType(f"Unsupported Content-Type {content_type or ''}".rstrip())


def parse_patch(body: Any, *, legacy: bool) -> list[Change]:
    """Validate a decoded PATCH body and return its changes in order."""
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    return [_parse_one(raw, legacy=legacy) for raw in body]


def _parse_one(raw: Any, *, legacy: bool) -> Change:
    if not isinstance(raw, dict):
        raise BadRequest("Operations must be JSON objects.")
    op_name, path = _op_and_path(raw, legacy=legacy)
    try:
        op = PatchOp(op_name)
    except ValueError:
        raise BadRequest(f"Invalid operation: '{op_name}'.") from None
    if op is not PatchOp.REMOVE and "value" not in raw:
        raise BadRequest(f'Operation "{op}" requires a member named "value".')
    parts = _decode_path(path)
    _check_depth(op, parts)
    return Change(op=op, path=parts, value=raw.get("value"), legacy=legacy)


def _op_and_path(raw: dict[str, Any], *, legacy: bool) -> tuple[str, Any]:
    if not legacy:
        if "op" not in raw:
            raise BadRequest("Unable to find 'op' in JSON Schema change")
        if "path" not in raw:
            raise BadRequest("Unable to find 'path' in JSON Schema change")
        return str(raw["op"]), raw["path"]
    ops = [key for key in ("add", "remove", "replace") if key in raw]
    if len(ops) != 1:
        raise BadRequest(
            'Operation objects must contain exactly one member named "add", "remove", or "replace".'
        )
    return ops[0], raw[ops[0]]


def _decode_path(path: Any) -> tuple[str, ...]:
    if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
        raise BadRequest(f'Pointer `{path}` does not start with "/".')
    if "//" in path:
        raise BadRequest(f'Pointer `{path}` contains adjacent "/".')
    if _ESCAPE.search(path):
        raise BadRequest(f'Pointer `{path}` contains "~" not part of a recognized escape sequence.')
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/"))


def _check_depth(op: PatchOp, parts: tuple[str, ...]) -> None:
    if parts[0] == "locations":
        allowed = 1 if op is PatchOp.REPLACE else 2
        if len(parts) == allowed:
            return
    elif len(parts) == 1:
        return
    raise BadRequest(f"Invalid JSON pointer for this resource: '/{'/'.join(parts)}'")
