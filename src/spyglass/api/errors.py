"""THE mapping from Spyglass errors to HTTP responses.

Bodies follow upstream's shape: JSON ``{"code", "title", "message"}`` when the
client accepts JSON, plain text otherwise. Clients key on the status code; the
message says why.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from spyglass.errors import (
    ServiceUnavailable,
    SpyglassError,
    StorageFull,
    StorageWriteDenied,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed "
    "or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document "
    "you requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method is not allowed for this resource.",
    409: "There was a conflict when trying to complete your request.",
    410: "The resource is no longer available.",
    413: "The request entity is too large.",
    415: "The request media type is not supported by this server.",
    416: "The requested range is not satisfiable.",
    431: "A request header field is too large.",
    500: "The server has either erred or is incapable of performing the requested operation.",
    503: "The server is currently unavailable. Please try again at a later time.",
}

_STORAGE_WORDS: tuple[tuple[type[SpyglassError], str], ...] = (
    (StorageFull, "Image storage media is full: "),
    (StorageWriteDenied, "Insufficient permissions on image storage media: "),
)
"""How upstream's API words what a store reported (its image data and stage calls), ahead
of the store's own reason: clients and scripts match on these words."""


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """One error document, JSON or text by the request's ``Accept``."""
    phrase = HTTPStatus(status).phrase
    detail = message or _EXPLANATIONS.get(status, phrase)
    if "json" in request.headers.get("accept", ""):
        body = {"code": f"{status} {phrase}", "title": phrase, "message": detail}
        return JSONResponse(body, status_code=status, headers=headers)
    text = f"{status} {phrase}\n\n{detail}\n"
    return PlainTextResponse(text, status_code=status, headers=headers)


async def handle_spyglass_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SpyglassError)
    if exc.http_status >= 500:
        log.error("request failed: %s", exc.message)  # the line carries the request id
    retry = exc.retry_after if isinstance(exc, StoreUnavailable | ServiceUnavailable) else None
    headers = None if retry is None else {"Retry-After": str(retry)}
    message = next((words for kind, words in _STORAGE_WORDS if isinstance(exc, kind)), "")
    return error_response(request, exc.http_status, message + exc.message, headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "" if exc.detail == HTTPStatus(exc.status_code).phrase else str(exc.detail)
    return error_response(request, exc.status_code, message, dict(exc.headers or {}))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error in the request")
    return error_response(request, 500, "")


EXCEPTION_HANDLERS = {
    SpyglassError: handle_spyglass_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
