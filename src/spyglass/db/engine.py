"""Databases, built from Glance's ``[database] connection`` URL.

Repository code is written once, synchronously, against a SQLAlchemy
``Session``; a ``Database`` decides how that work runs. SQLite runs it whole in
a worker thread (one thread hop per repository call rather than one per
query); PostgreSQL and MySQL run it on their asyncio drivers, in one greenlet
per call (``greenlet_spawn``). Glance configs name sync drivers (``mysql://``,
``mysql+pymysql://``, ``mysql+mysqldb://``, ``postgresql://``,
``postgresql+psycopg2://``), which are mapped onto asyncpg and aiomysql so the
same file works unchanged; only the mapped driver needs to be installed.

Failures that mean "the database cannot serve us now" (down, wrong password, no
free connection) leave ``run`` as ``DatabaseUnavailable`` (503, ``Retry-After``);
see ``db.faults``.
"""

from __future__ import annotations

import contextlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.util import greenlet_spawn

from spyglass.db import faults, liveness
from spyglass.errors import ConfigError
from spyglass.lazy import lazy_module

if TYPE_CHECKING:
    from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
    from sqlalchemy.ext.asyncio import AsyncEngine

    from spyglass.config import Settings
else:  # with greenlet, for PostgreSQL and MySQL only (SQLite's engine is a sync one)
    sqlalchemy_asyncio = lazy_module("sqlalchemy.ext.asyncio")

T = TypeVar("T")

_KINDS = {
    "mysql": "mysql",
    "mariadb": "mysql",
    "postgresql": "postgresql",
    "postgres": "postgresql",
}
"""URL backend names -> the database kind."""

_ASYNC_DRIVERS = {"mysql": "mysql+aiomysql", "postgresql": "postgresql+asyncpg"}
"""The driver Spyglass runs each kind on."""

_NEEDS = {"mysql": ("aiomysql", "pymysql"), "postgresql": ("asyncpg",)}
"""Modules that driver imports, with the package that provides them."""

_SYNC_DRIVERS = {
    "mysql": frozenset({"", "pymysql", "mysqldb", "mysqlconnector", "aiomysql", "asyncmy"}),
    "postgresql": frozenset({"", "psycopg2", "psycopg", "psycopg2cffi", "pg8000", "asyncpg"}),
    "sqlite": frozenset({"", "pysqlite", "aiosqlite"}),
}
"""Drivers a Glance URL may name; the name only says which database it is."""

READER_THREADS = 16
"""Worker threads SQLite reads run on, per process."""

ASYNC_POOL_SIZE = 32
"""Connections a PostgreSQL or MySQL pool keeps when ``max_pool_size`` is left at its default
(they are opened only as concurrent requests need them)."""

CONNECT_TIMEOUT = 10
"""Seconds a new connection may take; a server that does not answer is down, not slow."""

MYSQL_SESSION = "SET SESSION optimizer_switch = 'index_merge_intersection=off'"
"""Run on every new MySQL/MariaDB connection. Upstream's schema has single-column indexes on
``deleted`` and ``os_hidden``; with a few thousand images MariaDB intersects those two and
sorts every matching image for a list page, instead of reading the list index
(``ix_images_list_<sort key>``) in order and stopping after the page: 23 ms against 0.1 ms
per page at 8,000 images, whatever the table's statistics (``tests/integration/db/
test_list_plans.py``). Only intersections are switched off; unions and sort-unions stay."""


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """oslo.db's ``[database]`` connection options, with its defaults."""

    max_pool_size: int = 5
    """Connections kept open; 0 means no limit."""
    max_overflow: int = 50
    """Connections opened beyond the pool under load, closed when returned."""
    pool_timeout: float | None = None
    """Seconds to wait for a free connection (SQLAlchemy's 30 when unset), then 503."""
    connection_recycle_time: int = 3600
    """Connections older than this are replaced before use."""
    max_retries: int = 10
    """Connection attempts at start-up; -1 tries forever."""
    retry_interval: float = 10
    """Seconds between those attempts."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolOptions:
        def value(name: str, default: Any) -> Any:
            found = settings.option("database", name)
            return default if found is None else found

        default = cls()
        return cls(
            max_pool_size=int(value("max_pool_size", default.max_pool_size)),
            max_overflow=int(value("max_overflow", default.max_overflow)),
            pool_timeout=value("pool_timeout", None),
            connection_recycle_time=int(
                value("connection_recycle_time", default.connection_recycle_time)
            ),
            max_retries=int(value("max_retries", default.max_retries)),
            retry_interval=float(value("retry_interval", default.retry_interval)),
        )

    def engine_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "pool_size": self.max_pool_size,
            "max_overflow": self.max_overflow,
            "pool_recycle": self.connection_recycle_time,
        }
        if self.pool_timeout is not None:
            options["pool_timeout"] = self.pool_timeout
        return options

    def async_engine_options(self) -> dict[str, Any]:
        """``engine_options`` for a PostgreSQL or MySQL pool, which one event loop shares
        among all the requests it serves at once.

        With oslo.db's default of 5 kept, every request past the fifth opened a connection
        and closed it afterwards (asyncpg's set-up and statement preparation: a show at
        concurrency 32 ran at a third of its concurrency-1 rate). Left at that default,
        ``ASYNC_POOL_SIZE`` of the same total are kept; a size the operator chose holds,
        and the total never passes ``max_pool_size + max_overflow``.

        Checkouts are last in, first out: requests one at a time keep reusing the
        connection just returned instead of taking each idle one in turn. Rotating through
        the 32 connections a burst left made a MariaDB list page at concurrency 1 take
        three times as long (47 against 163 req/s, ``docs/performance.md``).
        """
        options = self.engine_options()
        if self.max_pool_size == PoolOptions().max_pool_size:
            total = self.max_pool_size + self.max_overflow
            options["pool_size"] = min(ASYNC_POOL_SIZE, total)
            options["max_overflow"] = total - options["pool_size"]
        options["pool_use_lifo"] = True
        return options


class Database(ABC):
    """Where repository work runs; ``write`` work runs in one transaction."""

    dialect: str

    @abstractmethod
    async def run(self, work: Callable[[Session], T], *, write: bool = False) -> T: ...

    @abstractmethod
    async def read(self, work: Callable[[Connection], T], *, cheap: bool = False) -> T:
        """Run read-only ``work`` on a pooled connection, without an ORM session.

        A session's unit of work (identity map, flush and commit bookkeeping) adds
        nothing to a read of plain rows and cost about 0.2 ms per call. ``cheap``
        work (a lookup by primary key) runs on the calling thread where the driver
        is synchronous: the hop to a worker thread costs more than the read.
        """

    @abstractmethod
    async def run_on_connection(self, work: Callable[[Connection], None]) -> None:
        """Run ``work`` on a connection inside a transaction (migrations)."""

    @abstractmethod
    async def dispose(self) -> None: ...

    async def ping(self) -> None:
        """Open a connection and run a trivial query; raises what the driver raises."""
        with _translated():
            await self._ping_raw()

    async def wait_until_reachable(self, options: PoolOptions) -> None:
        """Start-up: ``max_retries`` tries, ``retry_interval`` apart (``DatabaseUnavailable``)."""
        await faults.wait_until_reachable(
            self._ping_raw, max_retries=options.max_retries, retry_interval=options.retry_interval
        )

    @abstractmethod
    async def _ping_raw(self) -> None:
        """``ping`` without the translation to ``DatabaseUnavailable``."""


def _select_one(connection: Connection) -> None:
    connection.exec_driver_sql("SELECT 1")


def _in_session(session: Session, work: Callable[[Session], T], write: bool) -> T:
    if not write:
        return work(session)
    with session.begin():
        return work(session)


def _in_new_session(engine: Engine, work: Callable[[Session], T], write: bool) -> T:
    with Session(engine, expire_on_commit=False) as session:
        return _in_session(session, work, write)


def _with_connection(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.connect() as connection:
        return work(connection)


class ThreadedDatabase(Database):
    """A sync engine whose work runs in worker threads (SQLite).

    SQLite has one writer at a time. Writes in this process take turns (one
    thread) and start with ``BEGIN IMMEDIATE``, so they queue here in order
    rather than many threads polling the database lock; reads run alongside.
    """

    def __init__(self, engine: Engine, *, threads: int = READER_THREADS) -> None:
        self.engine = engine
        self.write_engine = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self.dialect = engine.dialect.name
        self._readers = anyio.CapacityLimiter(threads)
        self._writer = anyio.CapacityLimiter(1)

    async def run(self, work: Callable[[Session], T], *, write: bool = False) -> T:
        limiter = self._writer if write else self._readers
        engine = self.write_engine if write else self.engine
        with _translated():
            return await anyio.to_thread.run_sync(
                _in_new_session, engine, work, write, limiter=limiter
            )

    async def read(self, work: Callable[[Connection], T], *, cheap: bool = False) -> T:
        """A ``cheap`` read runs on the event loop: in WAL mode a reader does not wait
        for writers, so an indexed lookup takes tens of microseconds."""
        with _translated():
            if cheap:
                return _with_connection(self.engine, work)
            return await anyio.to_thread.run_sync(
                _with_connection, self.engine, work, limiter=self._readers
            )

    def _connection_work(self, work: Callable[[Connection], None]) -> None:
        with self.engine.begin() as connection:
            work(connection)

    async def run_on_connection(self, work: Callable[[Connection], None]) -> None:
        with _translated():
            await self._on_connection(work)

    async def _on_connection(self, work: Callable[[Connection], None]) -> None:
        await anyio.to_thread.run_sync(self._connection_work, work, limiter=self._writer)

    async def _ping_raw(self) -> None:
        await self._on_connection(_select_one)

    async def dispose(self) -> None:
        self.engine.dispose()


class AsyncDatabase(Database):
    """An asyncio engine (asyncpg, aiomysql); the sync work runs in one greenlet per call.

    SQLAlchemy's ``AsyncConnection`` and ``AsyncSession`` start a greenlet for each step
    (connect, ``run_sync``, close): three per read, and each new greenlet maps and unmaps
    a fresh 16 KiB Python frame stack (``strace``: three ``mmap``/``munmap`` pairs per
    show). Running the connection's whole use inside one ``greenlet_spawn`` is the same
    work with one greenlet.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # asyncpg switches to autocommit on the client alone; aiomysql sends SET AUTOCOMMIT
        # and, when the connection goes back, three statements to restore READ COMMITTED:
        # there the pool's ROLLBACK on return ends the read's implicit transaction instead.
        sync = engine.sync_engine  # what the work inside the greenlet runs on
        self._reader: Engine = (
            sync
            if self.dialect == "mysql"
            else sync.execution_options(isolation_level="AUTOCOMMIT")
        )
        liveness.ping_idle_connections(sync)

    async def run(self, work: Callable[[Session], T], *, write: bool = False) -> T:
        with _translated():
            return await greenlet_spawn(_in_new_session, self.engine.sync_engine, work, write)

    async def read(self, work: Callable[[Connection], T], *, cheap: bool = False) -> T:
        """Reads run outside a transaction: at ``READ COMMITTED`` (both servers here)
        each statement sees what was committed before it, in a transaction or not, so
        ``BEGIN`` and ``ROLLBACK`` round trips around a read buy nothing. A read that
        meets a connection the server dropped runs once more (``db.liveness``)."""
        with _translated():
            try:
                return await self._read(work)
            except DBAPIError as error:
                if not liveness.is_disconnect(error):
                    raise
            return await self._read(work)  # the pool was renewed: a fresh connection

    async def _read(self, work: Callable[[Connection], T]) -> T:
        return await greenlet_spawn(_with_connection, self._reader, work)

    async def run_on_connection(self, work: Callable[[Connection], None]) -> None:
        with _translated():
            await self._on_connection(work)

    async def _on_connection(self, work: Callable[[Connection], None]) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(work)

    async def _ping_raw(self) -> None:
        await self._on_connection(_select_one)

    async def dispose(self) -> None:
        await self.engine.dispose()


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Database outages leave as ``DatabaseUnavailable``; every other error as it was."""
    try:
        yield
    except Exception as error:
        if faults.is_unavailable(error):
            raise faults.unavailable(error) from error
        raise


def _parse(connection: str) -> URL:
    """The URL, or a ``ConfigError`` that never repeats it (it may hold the password)."""
    try:
        return make_url(connection)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        scheme = connection.partition(":")[0].strip()
        raise ConfigError(
            f"[database] connection: cannot parse the {scheme!r} URL "
            "(expected sqlite:///PATH or DRIVER://USER:PASSWORD@HOST[:PORT]/DATABASE)"
        ) from None


def _kind(url: URL) -> str:
    backend, _, driver = url.drivername.partition("+")
    kind = "sqlite" if backend == "sqlite" else _KINDS.get(backend)
    if kind is None:
        raise ConfigError(
            f"[database] connection: unsupported database {backend!r} "
            "(use sqlite:///PATH, postgresql://... or mysql://...)"
        )
    if driver not in _SYNC_DRIVERS[kind]:
        known = ", ".join(sorted(name for name in _SYNC_DRIVERS[kind] if name))
        raise ConfigError(
            f"[database] connection: unknown {kind} driver {driver!r} (known: {known})"
        )
    return kind


def _check_installed(kind: str) -> None:
    missing = [name for name in _NEEDS.get(kind, ()) if importlib.util.find_spec(name) is None]
    if missing:
        driver = _ASYNC_DRIVERS[kind].split("+")[1]
        raise ConfigError(
            f"[database] connection: {kind} needs the {driver} driver, but "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed "
            f"(pip install {' '.join(missing)})"
        )


def database_kind(connection: str) -> str:
    """``sqlite``, ``postgresql`` or ``mysql``: which database a Glance URL names."""
    return _kind(_parse(connection))


def async_url(connection: str) -> URL:
    """Translate a Glance connection string to the async driver Spyglass runs it on."""
    url = _parse(connection)
    kind = _kind(url)
    if kind == "sqlite":
        raise ConfigError("[database] connection: SQLite runs on its sync driver")
    _check_installed(kind)
    return url.set(drivername=_ASYNC_DRIVERS[kind])


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


def create_database(connection: str, pool: PoolOptions | None = None) -> Database:
    """The database a connection URL names, with driver-appropriate settings."""
    pool = pool or PoolOptions()
    url = _parse(connection)
    kind = _kind(url)
    if kind == "sqlite":
        sqlite_options = {}
        if url.database not in (None, "", ":memory:"):
            # Every reader thread, the writer and the event loop keep a connection: with
            # upstream's default pool (5) SQLite opened new ones (and ran their PRAGMAs)
            # during requests, so the default grows to fit; a size the operator chose holds.
            sqlite_options = pool.engine_options()
            if pool.max_pool_size == PoolOptions().max_pool_size:
                sqlite_options["pool_size"] = READER_THREADS + 2
        engine = create_sync_engine(
            url.set(drivername="sqlite"),
            connect_args={"check_same_thread": False, "isolation_level": None},
            hide_parameters=True,
            **sqlite_options,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return ThreadedDatabase(engine)
    # Parameters hold location URLs, which may carry credentials: never in logs or errors.
    options: dict[str, Any] = {
        "hide_parameters": True,
        **pool.async_engine_options(),
    }
    if kind == "mysql":
        # As on PostgreSQL: each statement sees what others committed before it,
        # so a check made after taking a row lock reads the winner's write.
        options["isolation_level"] = "READ COMMITTED"
        options["connect_args"] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "init_command": MYSQL_SESSION,
        }
    else:
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT}
    return AsyncDatabase(sqlalchemy_asyncio.create_async_engine(async_url(connection), **options))
