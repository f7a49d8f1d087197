"""Handlers for ``/v2/images/{image_id}/members``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.v2.common import context, json_body, require_no_body, services
from spyglass.api.v2.views import isotime
from spyglass.domain.members import ImageMember


def member_view(member: ImageMember) -> dict[str, Any]:
    return {
        "member_id": member.member_id,
        "image_id": member.image_id,
        "status": member.status.value,
        "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at),
        "schema": "/v2/schemas/member",
    }


async def add_member(request: Request) -> Response:
    member = await services(request).members.add(
        context(request), request.path_params["image_id"], await json_body(request)
    )
    return JSONResponse(member_view(member))  # upstream answers 200, not 201


async def list_members(request: Request) -> Response:
    await require_no_body(request)
    members = await services(request).members.list(
        context(request), request.path_params["image_id"]
    )
    return JSONResponse(
        {"members": [member_view(m) for m in members], "schema": "/v2/schemas/members"}
    )


async def show_member(request: Request) -> Response:
    await require_no_body(request)
    member = await services(request).members.show(
        context(request), request.path_params["image_id"], request.path_params["member_id"]
    )
    return JSONResponse(member_view(member))


async def update_member(request: Request) -> Response:
    member = await services(request).members.update(
        context(request),
        request.path_params["image_id"],
        request.path_params["member_id"],
        await json_body(request),
    )
    return JSONResponse(member_view(member))


async def delete_member(request: Request) -> Response:
    await require_no_body(request)
    await services(request).members.delete(
        context(request), request.path_params["image_id"], request.path_params["member_id"]
    )
    return Response(status_code=204)
