"""Knowing a pooled connection is alive without asking the server on every checkout.

SQLAlchemy's ``pool_pre_ping`` sends a ping each time a connection leaves the pool: on
asyncpg a ``BEGIN``, an empty query and a ``ROLLBACK``, about 1.1 ms of a request that
otherwise spends under a millisecond in the database. A connection that came back to
the pool moments ago is as alive as the statement it just ran, so here only a
connection that sat idle longer than ``PING_AFTER_IDLE`` is pinged, and a dead one is
replaced (and every connection opened before it with it) as pre-ping would.

That leaves a short window: the server restarts while a connection waits less than
``PING_AFTER_IDLE`` in the pool. The statement that meets it fails as a disconnect,
which invalidates the whole pool; ``Database.read`` then runs the read once more on a
fresh connection, and a write answers 503 once (as it would if the server went away
during it).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event, exc

PING_AFTER_IDLE = 1.0
"""Seconds in the pool after which a connection is pinged before use."""

_IDLE_SINCE = "spyglass_idle_since"
"""Key in the connection record's ``info`` (cleared when the connection is replaced)."""


def ping_idle_connections(engine: Engine, *, after: float = PING_AFTER_IDLE) -> None:
    """Ping connections of ``engine``'s pool that were idle ``after`` seconds or more."""
    dialect = engine.dialect

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < after:
            return  # fresh, or just used
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError() from error  # the pool reconnects and retries
            raise

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def is_disconnect(error: BaseException) -> bool:
    """Whether ``error`` is a statement that found its connection dead (now replaced)."""
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated
