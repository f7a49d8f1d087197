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
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
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
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Malformed JSON in request body.") from None
    except RecursionError:  # the decoder recurses once per nesting level
        raise BadRequest(_TOO_DEEP) from None
    _check_document(document)
    return document


MAX_JSON_DEPTH = 32
"""Nesting a metadata document may have. Image documents are two or three levels deep;
a deep one would make every later recursive step (schema checks, serialisation) the
place that fails."""

_TOO_DEEP = f"Malformed JSON in request body: nested deeper than {MAX_JSON_DEPTH} levels."


def _check_document(document: Any) -> None:
    """Refuse what no database can store, before any of it is used.

    JSON's ``\\ud800`` escapes decode to lone surrogates, which are not text: every
    database driver fails to encode them (a 500 before). NUL is refused for the same
    reason: PostgreSQL's text cannot hold it. The walk is iterative, so its own depth
    is no concern.
    """
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(_TOO_DEEP)
            if isinstance(value, dict):
                for key in value:
                    _check_text(key)
                pending.extend((item, depth + 1) for item in value.values())
            else:
                pending.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise BadRequest("Malformed JSON in request body: strings must not contain NUL.")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(
                "Malformed JSON in request body: strings must be valid Unicode "
                "(a lone surrogate escape such as \\ud800 is not)."
            ) from None


async def require_no_body(request: Request) -> None:
    """Upstream refuses a body on routes that take none."""
    if request.headers.get("content-length", "0") not in ("", "0") or request.headers.get(
        "transfer-encoding"
    ):
        async for piece in request.stream():  # the first bytes decide; nothing is kept
            if piece:
                raise BadRequest("This operation does not accept a request body.")
