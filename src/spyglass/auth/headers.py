"""Identity taken from the headers an authenticating proxy (or our Keystone
middleware) sets, as upstream's ``context`` middleware does.

A request without ``X-Identity-Status: Confirmed`` is refused with 401: behind
a trusted proxy, anything else means the proxy did not vouch for the caller.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import Scope

from spyglass.context import RequestContext
from spyglass.errors import Unauthorized


def _roles(headers: Headers) -> frozenset[str]:
    """The roles in ``X-Roles``, and only there.

    The proxy vouches for the headers it sets, not for the deprecated spellings it may
    pass through untouched: falling back to ``X-Role`` when ``X-Roles`` was empty let a
    client name its own roles (``X-Role: admin``).
    """
    raw = headers.get("x-roles", "")
    return frozenset(r.strip().lower() for r in raw.split(",") if r.strip())


def context_from_headers(
    is_admin: Callable[[RequestContext], bool],
) -> Callable[[Scope], RequestContext]:
    """Build the per-request context maker for trusted-header identity."""

    def make(scope: Scope) -> RequestContext:
        headers = Headers(scope=scope)
        if headers.get("x-identity-status", "").lower() != "confirmed":
            raise Unauthorized("The request you have made requires authentication.")
        ctx = RequestContext(
            request_id=str(scope.get("request_id", "")),
            # no fallback to X-Tenant-Id / X-User either, for the reason given in _roles
            project_id=headers.get("x-project-id") or None,
            user_id=headers.get("x-user-id") or None,
            roles=_roles(headers),
        )
        return RequestContext(
            request_id=ctx.request_id, project_id=ctx.project_id, user_id=ctx.user_id,
            roles=ctx.roles, is_admin=is_admin(ctx),
        )  # fmt: skip

    return make


def unauthenticated(scope: Scope) -> RequestContext:
    """No authentication: every caller is an administrator with no project."""
    return RequestContext(
        request_id=str(scope.get("request_id", "")),
        roles=frozenset({"admin", "member", "reader"}),
        is_admin=True,
    )
