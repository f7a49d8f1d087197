"""Answer 404 for request paths that hold control characters, before any route sees them.

Path segments become image ids, member ids, tags and namespace names, and reach
the database as they are: PostgreSQL cannot even compare a string holding NUL
(a 500), and no id, tag or name Spyglass accepts holds a control character, so
nothing can live at such a path: it is "not found", as an unknown id is. One
check here covers every route, present and future.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from spyglass.api.errors import error_response


class PathGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_control(scope["path"]):
            message = "Nothing has a name with control characters."
            await error_response(Request(scope), 404, message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _has_control(path: str) -> bool:
    return _CONTROL.search(path) is not None
