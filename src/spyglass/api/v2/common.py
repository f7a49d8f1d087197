"""Small helpers shared by the v2 handlers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from spyglass.api.state import Services
from spyglass.context import RequestContext
from spyglass.errors import BadRequest, TooLarge


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def context(request: Request) -> RequestContext:
    ctx: RequestContext = request.scope["spyglass.context"]
    return ctx


MAX_JSON_BODY = 1024 * 1024
"""Metadata documents are small; a larger JSON body is refused before it is held."""


async def _bounded_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"Request body is larger than {limit} bytes.")
    pieces: list[bytes] = []
    held = 0
    async for piece in request.stream():
        held += len(piece)
        if held > limit:
            raise TooLarge(f"Request body is larger than {limit} bytes.")
        pieces.append(piece)
    return b"".join(pieces)


async def json_body(request: Request) -> Any:
    """Decode a JSON body; malformed or missing JSON is 400, never 500."""
    raw = await _bounded_body(request, MAX_JSON_BODY)
    if not raw:
        raise BadRequest("Malformed JSON in request body: the body is empty.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed JSON in request body.") from None


async def require_no_body(request: Request) -> None:
    """Upstream refuses a body on routes that take none."""
    if request.headers.get("content-length", "0") not in ("", "0") or request.headers.get(
        "transfer-encoding"
    ):
        async for piece in request.stream():  # the first bytes decide; nothing is kept
            if piece:
                raise BadRequest("This operation does not accept a request body.")
