"""Databases, built from Glance's ``[database] connection`` URL.

Repository code is written once, synchronously, against a SQLAlchemy
``Session``; a ``Database`` decides how that work runs. SQLite runs it whole in
a worker thread (one thread hop per repository call rather than one per
query); PostgreSQL and MySQL run it on their asyncio drivers through
``AsyncSession.run_sync``. Glance configs name sync drivers (``mysql://``,
``mysql+pymysql://``, ``postgresql://``), which are mapped onto asyncpg and
aiomysql so the same file works unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from spyglass.errors import ConfigError

T = TypeVar("T")

_ASYNC_DRIVERS = {
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


class Database(ABC):
    """Where repository work runs; ``write`` work runs in one transaction."""

    dialect: str

    @abstractmethod
    async def run(self, work: Callable[[Session], T], *, write: bool = False) -> T: ...

    @abstractmethod
    async def run_on_connection(self, work: Callable[[Connection], None]) -> None:
        """Run ``work`` on a connection inside a transaction (migrations)."""

    @abstractmethod
    async def dispose(self) -> None: ...


def _in_session(session: Session, work: Callable[[Session], T], write: bool) -> T:
    if not write:
        return work(session)
    with session.begin():
        return work(session)


class ThreadedDatabase(Database):
    """A sync engine whose work runs in worker threads (SQLite).

    SQLite has one writer at a time. Writes in this process take turns (one
    thread) and start with ``BEGIN IMMEDIATE``, so they queue here in order
    rather than many threads polling the database lock; reads run alongside.
    """

    def __init__(self, engine: Engine, *, threads: int = 16) -> None:
        self.engine = engine
        self.write_engine = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self.dialect = engine.dialect.name
        self._readers = anyio.CapacityLimiter(threads)
        self._writer = anyio.CapacityLimiter(1)

    def _work(self, work: Callable[[Session], T], write: bool) -> T:
        engine = self.write_engine if write else self.engine
        with Session(engine, expire_on_commit=False) as session:
            return _in_session(session, work, write)

    async def run(self, work: Callable[[Session], T], *, write: bool = False) -> T:
        limiter = self._writer if write else self._readers
        return await anyio.to_thread.run_sync(self._work, work, write, limiter=limiter)

    def _connection_work(self, work: Callable[[Connection], None]) -> None:
        with self.engine.begin() as connection:
            work(connection)

    async def run_on_connection(self, work: Callable[[Connection], None]) -> None:
        await anyio.to_thread.run_sync(self._connection_work, work, limiter=self._writer)

    async def dispose(self) -> None:
        self.engine.dispose()


class AsyncDatabase(Database):
    """An asyncio engine (asyncpg, aiomysql); sync work runs through ``run_sync``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    async def run(self, work: Callable[[Session], T], *, write: bool = False) -> T:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            return await session.run_sync(_in_session, work, write)

    async def run_on_connection(self, work: Callable[[Connection], None]) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(work)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _parse(connection: str) -> URL:
    try:
        return make_url(connection)
    except ArgumentError as exc:
        raise ConfigError(f"[database] connection: cannot parse {connection!r}") from exc


def async_url(connection: str) -> URL:
    """Translate a Glance connection string to its async-driver equivalent."""
    url = _parse(connection)
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


def _sqlite_begin(connection: Connection) -> None:
    """Start transactions ourselves: deferred for reads, ``IMMEDIATE`` for writes."""
    connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


def create_database(connection: str) -> Database:
    """The database a connection URL names, with driver-appropriate settings."""
    url = _parse(connection)
    if url.get_backend_name() == "sqlite":
        engine = create_sync_engine(
            url.set(drivername="sqlite"),
            connect_args={"check_same_thread": False, "isolation_level": None},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return ThreadedDatabase(engine)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() in ("mysql", "mariadb"):
        # As on PostgreSQL: each statement sees what others committed before it,
        # so a check made after taking a row lock reads the winner's write.
        options["isolation_level"] = "READ COMMITTED"
    return AsyncDatabase(create_async_engine(async_url(connection), **options))
