"""Who is asking: the identity every service call is made on behalf of."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The caller of one request.

    ``is_admin`` is decided once, by the ``context_is_admin`` policy rule, when
    the context is built (see ``spyglass.auth``).
    """

    request_id: str
    project_id: str | None = None
    user_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    is_admin: bool = False
