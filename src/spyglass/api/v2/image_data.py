"""``PUT`` and ``GET /v2/images/{image_id}/file``: image bytes in and out, streamed."""

from __future__ import annotations

import re

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from spyglass.api.data_response import DataResponse
from spyglass.api.v2.common import context, require_no_body, services
from spyglass.errors import BadRequest, RangeNotSatisfiable, UnsupportedMediaType
from spyglass.services.stores import check_store_id
from spyglass.stores.base import ByteRange
from spyglass.types import ByteStream

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
_CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)")
"""Matched whole (``fullmatch``): ``$`` would also match before a final newline."""


async def upload(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/octet-stream":
        raise UnsupportedMediaType(
            f"Content-Type {content_type or '(none)'} is not supported for image data: "
            "use application/octet-stream."
        )
    size = declared_size(request)
    svc = services(request)
    store_id = None
    if svc.images.stores.multiple:  # upstream ignores the header otherwise
        store_id = request.headers.get("x-image-meta-store")
        if store_id is not None:
            check_store_id(svc.images.stores, store_id)
    await svc.uploads.upload(
        context(request),
        request.path_params["image_id"],
        body_stream(request),
        size=size,
        length_hint=content_length(request),
        store_id=store_id,
    )
    return Response(status_code=204)


def declared_size(request: Request) -> int | None:
    raw = request.headers.get("x-openstack-image-size")
    if raw is None:
        return None
    # digits only: int() would also take "5_0", "+5", "-0" and non-ASCII digits
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(
            f"x-openstack-image-size must be a non-negative integer in digits, not {raw!r}."
        )
    return int(raw)


def content_length(request: Request) -> int | None:
    """The body's length if the client sent one (the HTTP layer holds it to that)."""
    raw = request.headers.get("content-length", "")
    return int(raw) if raw.isascii() and raw.isdigit() else None


async def body_stream(request: Request) -> ByteStream:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise BadRequest("The client disconnected before the upload finished.") from None


async def download(request: Request) -> Response:
    await require_no_body(request)
    requested = _requested_range(request)
    result = await services(request).downloads.download(
        context(request), request.path_params["image_id"], byte_range=requested
    )
    if result.data is None:
        return Response(status_code=204)
    headers = {"Content-Length": str(result.data.size)}
    if result.image.checksum:  # upstream sends the whole image's MD5, even on 206
        headers["Content-MD5"] = result.image.checksum
    status = 200
    if result.byte_range is not None:
        status = 206
        end = result.byte_range.start + result.data.size - 1
        total = "*" if result.total_size is None else str(result.total_size)
        headers["Content-Range"] = f"bytes {result.byte_range.start}-{end}/{total}"
    return DataResponse(result.data, status_code=status, headers=headers)


def _requested_range(request: Request) -> ByteRange | None:
    """Read ``Range`` (or a legacy request ``Content-Range``) into a ``ByteRange``."""
    raw = request.headers.get("range")
    if raw is not None:
        if "," in raw:
            raise BadRequest("Multiple ranges are not supported.")
        match = _RANGE.fullmatch(raw.strip())
        if not match or match.groups() == ("", ""):
            raise RangeNotSatisfiable(f"Invalid Range header: {raw}")
        first, last = match.groups()
        if first == "":
            if int(last) == 0:  # a suffix of no bytes selects nothing (RFC 9110 14.1.2)
                raise RangeNotSatisfiable(f"Invalid Range header: {raw}")
            return ByteRange(-int(last))
        if last and int(last) < int(first):
            raise RangeNotSatisfiable(f"Invalid Range header: {raw}")
        return ByteRange(int(first), int(last) if last else None)
    legacy = request.headers.get("content-range")
    if legacy is not None:
        match = _CONTENT_RANGE.fullmatch(legacy.strip())
        if not match or int(match.group(2)) < int(match.group(1)):
            raise RangeNotSatisfiable(f"Invalid Content-Range header: {legacy}")
        return ByteRange(int(match.group(1)), int(match.group(2)))
    return None
