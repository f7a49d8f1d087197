"""Handlers for v1's sharing: ``/v1/images/{id}/members`` and ``/v1/shared-images/{project}``.

v1 members have no status, only ``can_share``; they are the same member records as
v2's (a v1 member is accepted from the start, since v1 grants access at once).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, json_body, require_no_body, services
from spyglass.errors import BadRequest


def _can_share(value: Any, where: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise BadRequest(f"{where}: can_share must be true or false.")
    return value


async def list_members(request: Request) -> Response:
    await require_no_body(request)
    members = await services(request).members.list(
        context(request), request.path_params["image_id"]
    )
    return JSONResponse(
        {"members": [{"member_id": m.member_id, "can_share": m.can_share} for m in members]}
    )


async def replace_members(request: Request) -> Response:
    body = await json_body(request)
    memberships = body.get("memberships") if isinstance(body, dict) else None
    if not isinstance(memberships, list):
        raise BadRequest('Request body must be an object with a "memberships" list.')
    wanted: list[tuple[str, bool | None]] = []
    for entry in memberships:
        member_id = entry.get("member_id") if isinstance(entry, dict) else None
        if not isinstance(member_id, str):
            raise BadRequest('Each membership must be an object with a "member_id" string.')
        wanted.append((member_id, _can_share(entry.get("can_share"), member_id)))
    await services(request).members.replace(
        context(request), request.path_params["image_id"], wanted
    )
    return Response(status_code=204)


async def add_member(request: Request) -> Response:
    can_share = None
    if request.headers.get("content-length", "0") not in ("", "0") or request.headers.get(
        "transfer-encoding"
    ):
        body = await json_body(request)
        member = body.get("member") if isinstance(body, dict) else None
        if not isinstance(member, dict):
            raise BadRequest('Request body must be an object with a "member" object.')
        can_share = _can_share(member.get("can_share"), "member")
    await services(request).members.share(
        context(request),
        request.path_params["image_id"],
        request.path_params["member_id"],
        can_share=can_share,
    )
    return Response(status_code=204)


async def delete_member(request: Request) -> Response:
    await require_no_body(request)
    await services(request).members.unshare(
        context(request), request.path_params["image_id"], request.path_params["member_id"]
    )
    return Response(status_code=204)


async def shared_images(request: Request) -> Response:
    await require_no_body(request)
    svc = services(request)
    members = await svc.members.shared_with(
        context(request), request.path_params["member_id"], limit=svc.settings.api_limit_max
    )
    return JSONResponse(
        {"shared_images": [{"image_id": m.image_id, "can_share": m.can_share} for m in members]}
    )
