"""Who is asking: the identity every service call is made on behalf of."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The caller of one request.

    With no authentication configured every caller is an admin with no project,
    as upstream's unauthenticated context is.
    """

    request_id: str
    project_id: str | None = None
    user_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False

    @classmethod
    def unauthenticated(cls, request_id: str) -> RequestContext:
        return cls(request_id=request_id, is_admin=True)
