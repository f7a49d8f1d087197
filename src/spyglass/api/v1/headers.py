"""v1's ``x-image-meta-*`` headers: parsed into ``V1Meta``, and rendered from an ``Image``.

Request headers arrive as bytes; values (and property names) are read as UTF-8, as
upstream's clients send them, or as %-encoded UTF-8, as today's python-glanceclient
sends them. A name under ``x-image-meta-`` that v1 does not know, a header given twice,
or a malformed number is a 400 that names the header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from spyglass.domain.image import Image, Visibility
from spyglass.errors import BadRequest

META_PREFIX = "x-image-meta-"
PROPERTY_PREFIX = "x-image-meta-property-"

CORE_FIELDS = frozenset(
    {
        "location", "size", "is_public", "disk_format", "container_format", "name",
        "status", "copy_from", "uri", "checksum", "created_at", "updated_at",
        "deleted_at", "min_ram", "min_disk", "owner", "store", "id", "protected",
        "deleted", "virtual_size",
    }
)  # fmt: skip
"""Every core attribute v1 accepts in a header (upstream's list)."""

_NON_NEGATIVE = ("size", "min_disk", "min_ram")
_BOOLEANS = ("is_public", "protected", "deleted")
_TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})


def lenient_bool(raw: str) -> bool:
    """oslo's ``bool_from_string``: a few spellings are true, anything else false."""
    return raw.strip().lower() in _TRUE


@dataclass(slots=True)
class V1Meta:
    """What a v1 request says about an image: core fields and custom properties."""

    core: dict[str, Any] = field(default_factory=dict)
    """Typed: ints for sizes, bools for flags, ``None`` for an empty header."""
    properties: dict[str, str | None] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.core


def _decode(raw: bytes, what: str) -> str:
    """UTF-8, with %-escapes decoded: python-glanceclient %-encodes every header name
    and value it sends (its bug 1766235), older clients send raw UTF-8."""
    try:
        text = raw.decode("utf-8")
        if "%" in text:
            text = unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest(f"Header {what} is not valid UTF-8.") from None
    if "\x00" in text:
        raise BadRequest(f"Header {what} must not contain NUL characters.")
    return text


def parse_meta(raw_headers: Iterable[tuple[bytes, bytes]]) -> V1Meta:
    """Read every ``x-image-meta-*`` header of a request."""
    meta = V1Meta()
    seen: set[str] = set()
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if not name.startswith(META_PREFIX):
            continue
        name = _decode(raw_name, raw_name.decode("latin-1")).lower()
        value = _decode(raw_value, name).strip()
        if name.startswith(PROPERTY_PREFIX):
            key = name[len(PROPERTY_PREFIX) :].replace("-", "_")
            if not key:
                raise BadRequest(f"Bad header: {name} names no property.")
            normal = "property:" + key
        else:
            key = name[len(META_PREFIX) :].replace("-", "_")
            if key not in CORE_FIELDS:
                raise BadRequest(f"Bad header: {name} is not an image attribute v1 knows.")
            normal = key
        if normal in seen:
            raise BadRequest(f"Header {name} may be given only once.")
        seen.add(normal)
        if normal.startswith("property:"):
            meta.properties[key] = value or None
        else:
            meta.core[key] = _typed(key, value, name)
    return meta


def _typed(key: str, value: str, header: str) -> Any:
    if value == "":
        return None
    if key in _NON_NEGATIVE:
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise BadRequest(f"Invalid value {value!r} for {header}: a non-negative integer.")
        return int(value)
    if key == "virtual_size":
        if value == "None":
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise BadRequest(f"Invalid value {value!r} for {header}: an integer or None.")
        return int(value)
    if key in _BOOLEANS:
        return lenient_bool(value)
    return value


def meta_from_document(document: Any) -> V1Meta:
    """The same metadata from a JSON document (``{"image": {...}}`` or the object itself),
    as openstacksdk's v1 proxy sends them; values are checked as headers would be."""
    wrapped = isinstance(document, dict) and isinstance(document.get("image"), dict)
    if wrapped:
        document = document["image"]
    if not isinstance(document, dict):
        raise BadRequest("Request body must be a JSON object of image attributes.")
    pairs: list[tuple[bytes, bytes]] = []
    properties = dict(document.get("properties") or {})
    if not isinstance(document.get("properties") or {}, dict):
        raise BadRequest("properties must be a JSON object.")
    for key, value in document.items():
        if key == "properties" or value is None:
            continue
        if str(key) in CORE_FIELDS:
            pairs.append(((META_PREFIX + str(key)).encode(), _text(value).encode()))
        elif wrapped:  # openstacksdk's Image resource sends custom properties this way
            properties.setdefault(key, value)
        # flat documents carry some of openstacksdk's own arguments (validate_checksum,
        # tags): names v1 does not know are ignored there
    for key, value in properties.items():
        if value is not None:
            pairs.append(((PROPERTY_PREFIX + str(key)).encode(), _text(value).encode()))
    return parse_meta(pairs)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- rendering -----------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def v1_time(when: datetime | None) -> str | None:
    """Upstream v1's timestamps: microseconds, no zone."""
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%S.%f")


def is_public(image: Image) -> bool:
    return image.visibility is Visibility.PUBLIC


def core_fields(image: Image) -> dict[str, Any]:
    """The v1 core attributes of an image (location never among them)."""
    return {
        "id": image.id,
        "name": image.name,
        "status": image.status.value,
        "size": image.size if image.size is not None else 0,
        "virtual_size": image.virtual_size,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "checksum": image.checksum,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "owner": image.owner,
        "is_public": is_public(image),
        "protected": image.protected,
        "created_at": v1_time(image.created_at),
        "updated_at": v1_time(image.updated_at),
        "deleted_at": v1_time(image.deleted_at),
        "deleted": image.deleted_at is not None,
    }


def detail_view(image: Image, properties: Mapping[str, str]) -> dict[str, Any]:
    return {**core_fields(image), "properties": dict(properties)}


def brief_view(image: Image) -> dict[str, Any]:
    fields = core_fields(image)
    return {
        k: fields[k] for k in ("id", "name", "size", "disk_format", "container_format", "checksum")
    }


def render_headers(image: Image, properties: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Every non-null core field and property as ``x-image-meta-*``, and ``ETag``.

    Values are sent as UTF-8. A property whose name is not an HTTP token, or whose
    value holds control characters, cannot travel in a header and is left out (it
    still appears in ``/v1/images/detail`` and in JSON answers).
    """
    out: list[tuple[bytes, bytes]] = []
    for key, value in core_fields(image).items():
        if value is not None:
            out.append(((META_PREFIX + key).encode(), _header_text(value).encode("utf-8")))
    for key, value in sorted(properties.items()):
        name = PROPERTY_PREFIX + key.lower()
        if _TOKEN.fullmatch(name) and not _UNSAFE_VALUE.search(value):
            out.append((name.encode(), value.encode("utf-8")))
    if image.checksum:
        out.append((b"etag", image.checksum.encode()))
    return out


def _header_text(value: Any) -> str:
    return str(value)  # booleans as True/False, as upstream's str()
