"""What every catalog handler needs: the service, the caller, the path's names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from spyglass.api.v2.common import context, require_no_body, services
from spyglass.errors import NotFound
from spyglass.services.metadef_ports import ChildKind
from spyglass.services.metadefs import MetadefService

Handler = Callable[[Request], Awaitable[Response]]


def catalog(request: Request) -> MetadefService:
    service = services(request).metadefs
    if service is None:  # pragma: no cover - every server built by build_app has one
        raise NotFound("The metadata definitions catalog is not available.")
    return service


def default_owner(request: Request) -> str:
    """The caller's project; upstream's loader owner ``admin`` when there is none (noauth)."""
    return context(request).project_id or "admin"


def path(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    return value


def delete_one(kind: ChildKind) -> Handler:
    """``DELETE .../{kind}/{name}``."""

    async def handler(request: Request) -> Response:
        await require_no_body(request)
        await catalog(request).delete_child(
            context(request), path(request, "namespace"), kind, path(request, "name")
        )
        return Response(status_code=204)

    return handler


def delete_all(kind: ChildKind) -> Handler:
    """``DELETE .../{kind}``: every one of that kind (204 even when there were none)."""

    async def handler(request: Request) -> Response:
        await require_no_body(request)
        await catalog(request).delete_children(context(request), path(request, "namespace"), kind)
        return Response(status_code=204)

    return handler
