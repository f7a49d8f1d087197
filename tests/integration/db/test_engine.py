"""Glance's connection URLs and ``[database]`` pool options, on real databases."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import event, text

from spyglass.config import load_settings
from spyglass.db.engine import (
    AsyncDatabase,
    Database,
    PoolOptions,
    ThreadedDatabase,
    async_url,
    create_database,
)
from spyglass.errors import ConfigError, DatabaseUnavailable
from tests.integration.db.conftest import Db, spyglass, write_config

SCHEMES = {
    "sqlite": ["sqlite", "sqlite+pysqlite"],
    "postgresql": ["postgresql", "postgresql+psycopg2", "postgresql+psycopg", "postgres"],
    "mysql": ["mysql", "mysql+pymysql", "mysql+mysqldb", "mariadb"],
}
DRIVERS = {"sqlite": "pysqlite", "postgresql": "asyncpg", "mysql": "aiomysql"}


def _with_scheme(url: str, scheme: str) -> str:
    return scheme + url[url.index("://") :]


async def test_every_classic_url_form_reaches_the_database(db: Db) -> None:
    for scheme in SCHEMES[db.backend]:
        database = create_database(_with_scheme(db.url, scheme))
        try:
            await database.ping()
            assert isinstance(database, AsyncDatabase | ThreadedDatabase)
            assert database.engine.dialect.driver == DRIVERS[db.backend], scheme
        finally:
            await database.dispose()


def test_a_driver_that_is_not_installed_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "asyncpg" else real(name, *a),
    )
    with pytest.raises(ConfigError, match="needs the asyncpg driver, but asyncpg is not installed"):
        async_url("postgresql+psycopg2://glance:secret@db/glance")


def test_unknown_databases_and_drivers_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown mysql driver 'oursql'"):
        create_database("mysql+oursql://glance:secret@db/glance")
    with pytest.raises(ConfigError, match="unsupported database 'oracle'"):
        create_database("oracle://glance:secret@db/glance")
    config = write_config(tmp_path / "bad.conf", "mysql+oursql://glance:hunter2@db/glance")
    result = spyglass("db", "version", "--config-file", str(config))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "spyglass: error: [database] connection: unknown mysql driver 'oursql' (known: aiomysql, "
        "asyncmy, mysqlconnector, mysqldb, pymysql)"
    ]


def test_a_malformed_url_is_refused_in_one_line_without_its_password(tmp_path: Path) -> None:
    for url in ("mysql:/glance:hunter2@db/glance", "mysql://glance:hunter2@db:port/glance"):
        with pytest.raises(ConfigError) as refused:
            create_database(url)
        assert "hunter2" not in str(refused.value)
        config = write_config(tmp_path / "bad.conf", url)
        result = spyglass("db", "version", "--config-file", str(config))
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "spyglass: error: [database] connection: cannot parse the 'mysql' URL (expected "
            "sqlite:///PATH or DRIVER://USER:PASSWORD@HOST[:PORT]/DATABASE)"
        ]


def test_pool_options_are_read_from_the_database_section(tmp_path: Path) -> None:
    conf = tmp_path / "pool.conf"
    conf.write_text(
        "[database]\nmax_pool_size = 3\nmax_overflow = 4\npool_timeout = 7\n"
        "connection_recycle_time = 9\nmax_retries = -1\nretry_interval = 2\n"
        "[DEFAULT]\nsql_max_retries = 8\n"  # the [database] spelling wins
    )
    options = PoolOptions.from_settings(load_settings([conf], None, {}))
    assert options == PoolOptions(3, 4, 7, 9, -1, 2)
    assert PoolOptions.from_settings(load_settings([], None, {})) == PoolOptions()


@contextlib.asynccontextmanager
async def _held(database: Database) -> AsyncIterator[object]:
    """One pooled connection, checked out until the block ends."""
    if isinstance(database, AsyncDatabase):
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            yield connection
    else:
        assert isinstance(database, ThreadedDatabase)
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            yield connection


async def test_pool_size_overflow_and_timeout_take_effect(db: Db) -> None:
    pool = PoolOptions(max_pool_size=1, max_overflow=1, pool_timeout=1)
    database = create_database(db.url, pool)
    try:
        async with _held(database), _held(database):  # the pool's one, and one overflow
            began = time.monotonic()
            with pytest.raises(DatabaseUnavailable, match="no free connection"):
                await database.run(lambda session: session.execute(text("SELECT 1")))
            assert 0.9 <= time.monotonic() - began < 5  # pool_timeout, not the default 30
        await database.run(lambda session: session.execute(text("SELECT 1")))  # free again
    finally:
        await database.dispose()


async def test_the_default_pool_keeps_what_concurrent_requests_opened(db: Db) -> None:
    if db.backend == "sqlite":
        pytest.skip("SQLite's pool fits its reader threads (test_pool_options_...)")
    database = create_database(db.url)
    assert isinstance(database, AsyncDatabase)
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda *_: opened.append(1))

    async def twelve_at_once() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(12):
                await stack.enter_async_context(_held(database))

    try:
        await twelve_at_once()
        assert len(opened) == 12
        await twelve_at_once()
        assert len(opened) == 12  # kept, not closed and opened again (oslo.db's 5 would be)
    finally:
        await database.dispose()
    chosen = PoolOptions(max_pool_size=3, max_overflow=4).async_engine_options()
    assert (chosen["pool_size"], chosen["max_overflow"]) == (3, 4)  # the operator's size holds
    small = PoolOptions(max_overflow=10).async_engine_options()
    assert (small["pool_size"], small["max_overflow"]) == (15, 0)  # never more in all


async def test_one_at_a_time_requests_reuse_the_last_returned_connection(db: Db) -> None:
    """After a burst opened many connections, requests one at a time keep taking the
    connection just returned (last in, first out), not each idle one in turn: rotating
    through 32 idle aiomysql connections made a MariaDB list page 3x slower."""
    if db.backend == "sqlite":
        pytest.skip("SQLite reads use a thread's own connection")
    database = create_database(db.url)
    assert isinstance(database, AsyncDatabase)
    used: list[int] = []
    event.listen(database.engine.sync_engine, "checkout", lambda dbapi, *_: used.append(id(dbapi)))
    try:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(8):
                await stack.enter_async_context(_held(database))
        used.clear()
        for _ in range(6):
            await database.read(lambda connection: connection.execute(text("SELECT 1")))
        assert len(set(used)) == 1, used
    finally:
        await database.dispose()


async def test_connection_recycle_time_replaces_old_connections(db: Db) -> None:
    async def select_one(database: Database) -> None:
        await database.run(lambda session: session.execute(text("SELECT 1")))

    for recycle, connects in ((3600, 1), (1, 2)):
        pool = PoolOptions(max_pool_size=1, max_overflow=0, connection_recycle_time=recycle)
        database = create_database(db.url, pool)
        opened: list[object] = []
        engine = database.engine if isinstance(database, ThreadedDatabase) else None
        if isinstance(database, AsyncDatabase):
            engine = database.engine.sync_engine
        event.listen(
            engine, "connect", lambda _connection, record, seen=opened: seen.append(record)
        )
        try:
            await select_one(database)
            await anyio.sleep(1.5)
            await select_one(database)
            assert len(opened) == connects, recycle
        finally:
            await database.dispose()


async def test_start_up_retries_then_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    database = create_database("postgresql://glance:hunter2@127.0.0.1:1/glance")
    caplog.set_level(logging.WARNING, "spyglass.db")
    try:
        began = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="cannot connect to the database"):
            await database.wait_until_reachable(PoolOptions(max_retries=3, retry_interval=0.2))
        assert time.monotonic() - began >= 0.4  # two waits between three attempts
    finally:
        await database.dispose()
    attempts = [r.getMessage() for r in caplog.records if "not reachable" in r.getMessage()]
    assert [message.split(")")[0] for message in attempts] == [
        "database not reachable (attempt 1 of 3",
        "database not reachable (attempt 2 of 3",
    ]
    assert all("hunter2" not in message for message in attempts)
