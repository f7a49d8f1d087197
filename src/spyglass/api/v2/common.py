"""Small helpers shared by the v2 handlers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from spyglass.api.state import Services
from spyglass.context import RequestContext
from spyglass.errors import BadRequest


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def context(request: Request) -> RequestContext:
    ctx: RequestContext = request.scope["spyglass.context"]
    return ctx


async def json_body(request: Request) -> Any:
    """Decode a JSON body; malformed or missing JSON is 400, never 500."""
    raw = await request.body()
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
        body = await request.body()
        if body:
            raise BadRequest("This operation does not accept a request body.")
