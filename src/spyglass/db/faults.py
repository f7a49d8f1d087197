"""Which database failures mean "unavailable, try again", and the start-up wait for a database.

A database that is down, restarting, refusing our credentials or out of free
connections is a condition that passes by itself (or by an operator's hand),
not a bug: requests then answer 503 with ``Retry-After`` rather than 500, and
the pool replaces dead connections once the server is back (``db.liveness``). Other
database errors (constraint violations, bad SQL) are left alone.

Messages name the condition and the driver's reason, never the URL (which may
hold a password).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
from sqlalchemy import exc as sa_exc

from spyglass.errors import DatabaseUnavailable

log = logging.getLogger("spyglass.db")

_PG_UNAVAILABLE_CLASSES = ("08", "28", "53", "57P", "3D")
"""SQLSTATE classes: connection exception, invalid authorization, insufficient
resources, operator intervention (shutdown), unknown database."""

_MYSQL_UNAVAILABLE_CODES = frozenset(
    {
        1040,  # too many connections
        1044,  # access denied to the database
        1045,  # access denied (password)
        1049,  # unknown database
        1053,  # server shutdown in progress
        1205,  # lock wait timeout
        1213,  # deadlock: the transaction was rolled back, retrying succeeds
        1698,  # access denied (no such user)
        2002,  # cannot connect (socket)
        2003,  # cannot connect (TCP)
        2006,  # server has gone away
        2013,  # lost connection during query
        2055,  # lost connection (system error)
    }
)

_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error")


def _reason(error: BaseException) -> str:
    """The driver's own words, on one line (the SQLAlchemy background link dropped)."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).split("\n", 1)[0].strip() or error.__class__.__name__
    return text[:300]


def _sqlstate(orig: BaseException) -> str:
    for attribute in ("sqlstate", "pgcode"):
        value = getattr(orig, attribute, None)
        if isinstance(value, str):
            return value
    cause = orig.__cause__
    return _sqlstate(cause) if cause is not None and cause is not orig else ""


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` says the database cannot serve us now (rather than a bad request)."""
    if isinstance(error, OSError | sa_exc.TimeoutError | sa_exc.InterfaceError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    orig = error.orig
    if orig is None:
        return False
    if isinstance(orig, OSError):
        return True
    if _sqlstate(orig).startswith(_PG_UNAVAILABLE_CLASSES):
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0] in _MYSQL_UNAVAILABLE_CODES
    if _sqlstate(orig):
        return False
    if isinstance(error, sa_exc.OperationalError):
        message = str(orig).lower()
        if any(part in message for part in _SQLITE_UNAVAILABLE):
            return True
        # asyncpg's failures before a session exists carry no SQLSTATE on the adapter.
        return "connect" in message or "authentication" in message
    return "authentication" in str(orig).lower() or "does not exist" in str(orig).lower()


def unavailable(error: BaseException) -> DatabaseUnavailable:
    """The 503 a request gets for ``error``, with the driver's reason."""
    if isinstance(error, sa_exc.TimeoutError):
        return DatabaseUnavailable(
            "The image database has no free connection (pool_timeout passed). Try again later."
        )
    return DatabaseUnavailable(f"The image database is unavailable: {_reason(error)}")


async def wait_until_reachable(
    probe: Callable[[], Awaitable[None]], *, max_retries: int, retry_interval: float
) -> None:
    """Try ``probe`` as oslo.db does at start-up: ``max_retries`` attempts (-1: forever).

    Each failed attempt logs one line; the last failure is raised as
    ``DatabaseUnavailable``. Authentication failures are not retried: a wrong
    password does not fix itself in ``retry_interval`` seconds.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            await probe()
            return
        except Exception as error:
            if not is_unavailable(error):
                raise
            reason = _reason(error)
            final = _is_credentials(error) or (0 <= max_retries <= attempt)
            if final:
                raise DatabaseUnavailable(f"cannot connect to the database: {reason}") from None
            total = "unlimited" if max_retries < 0 else str(max_retries)
            log.warning(
                "database not reachable (attempt %d of %s): %s; retrying in %g s",
                attempt,
                total,
                reason,
                retry_interval,
            )
        await anyio.sleep(retry_interval)


def _is_credentials(error: BaseException) -> bool:
    orig = getattr(error, "orig", None)
    if orig is None:
        return False
    if _sqlstate(orig).startswith("28"):
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in (1044, 1045, 1698):
        return True
    text = str(orig).lower()
    return "password authentication failed" in text or ("role" in text and "does not exist" in text)
