"""The async engine, built from Glance's ``[database] connection`` URL.

Glance configs name sync drivers (``mysql://``, ``mysql+pymysql://``,
``postgresql://``, ``sqlite://``); each is mapped onto its asyncio driver so the
same file works unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from spyglass.errors import ConfigError

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(connection: str) -> URL:
    """Translate a Glance connection string to its async-driver equivalent."""
    try:
        url = make_url(connection)
    except ArgumentError as exc:
        raise ConfigError(f"[database] connection: cannot parse {connection!r}") from exc
    backend = url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise ConfigError(f"[database] connection: unsupported database {backend!r}")
    return url.set(drivername=_ASYNC_DRIVERS[backend])


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(connection: str) -> AsyncEngine:
    """An engine with driver-appropriate settings (WAL and a busy timeout on SQLite)."""
    url = async_url(connection)
    options: dict[str, Any] = {"pool_pre_ping": url.get_backend_name() != "sqlite"}
    engine = create_async_engine(url, **options)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
