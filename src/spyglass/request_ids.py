"""The request id of the work this task is doing, wherever that work goes.

One request crosses several places: the API server's middleware and services, the
registry it calls, the notifications it causes and the background work it starts
(an import task, a v1 copy-from). Passing the id down every signature would touch
every port; a context variable follows the work instead, since asyncio copies it
into the tasks a request spawns. Log lines read it (``logs.RequestIdFilter``), the
registry client sends it, the outbox records it with each event.

Stdlib only, so every layer may import it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["bound", "current"]

_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "spyglass_request_id", default=None
)


def current() -> str | None:
    """The id of the request this code runs for, or ``None`` outside any request."""
    return _REQUEST_ID.get()


@contextlib.contextmanager
def bound(request_id: str | None) -> Iterator[None]:
    """Run the block as part of ``request_id`` (``None`` or ``""``: of no request)."""
    token = _REQUEST_ID.set(request_id or None)
    try:
        yield
    finally:
        _REQUEST_ID.reset(token)
