"""Pooled connections the server dropped are replaced without a ping on every checkout
(``db.liveness``), on the real PostgreSQL and MariaDB servers.

The servers are shared, so nothing here stops them: the test ends its own sessions
(``pg_terminate_backend``, ``KILL``), which is what a restart does to a pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from spyglass.db import liveness
from spyglass.db.engine import AsyncDatabase, async_url, create_database
from spyglass.db.images import SqlImageRepository
from spyglass.db.migrate import sync_schema
from spyglass.services.ports import ListQuery, SortKey
from tests.databases import MYSQL, POSTGRES, drop_database, fresh_database

QUERY = ListQuery(limit=20, sort=(SortKey("created_at", True), SortKey("id", True)))
KILL = {
    "postgresql": (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = :name AND pid <> pg_backend_pid()"
    ),
    "mysql": "SELECT id FROM information_schema.processlist WHERE db = :name",
}


@pytest.fixture(params=["postgresql", "mysql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncDatabase]:
    url, name = await fresh_database(request.param, tmp_path)
    found = create_database(url)
    assert isinstance(found, AsyncDatabase)
    found.name = name  # type: ignore[attr-defined]
    try:
        await sync_schema(found)
        yield found
    finally:
        await found.dispose()
        await drop_database(request.param, name)


async def _drop_sessions(database: AsyncDatabase) -> None:
    """End every server session of ``database``'s pool, as a server restart would."""
    name = database.name  # type: ignore[attr-defined]
    admin = create_async_engine(
        async_url(POSTGRES if database.dialect == "postgresql" else MYSQL),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as connection:
            found = (await connection.execute(text(KILL[database.dialect]), {"name": name})).all()
            if database.dialect == "mysql":
                for (session,) in found:
                    await connection.execute(text(f"KILL {int(session)}"))
    finally:
        await admin.dispose()


def _count_pings(database: AsyncDatabase, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    dialect = database.engine.sync_engine.dialect
    pings: list[int] = []
    real = dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counting)
    return pings


async def test_connections_in_use_are_not_pinged_idle_ones_are(
    database: AsyncDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = SqlImageRepository(database)
    pings = _count_pings(database, monkeypatch)
    for _ in range(5):
        assert await repo.list(QUERY) == []
    assert pings == []  # fresh, then returned moments ago
    await anyio.sleep(liveness.PING_AFTER_IDLE + 0.2)
    await repo.list(QUERY)
    assert pings == [1]


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    database: AsyncDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = SqlImageRepository(database)
    await repo.list(QUERY)
    await _drop_sessions(database)
    await anyio.sleep(liveness.PING_AFTER_IDLE + 0.2)
    pings = _count_pings(database, monkeypatch)
    assert await repo.list(QUERY) == []
    assert pings == [1]


async def test_a_read_that_meets_a_dropped_connection_runs_again_on_a_fresh_one(
    database: AsyncDatabase,
) -> None:
    repo = SqlImageRepository(database)
    await repo.list(QUERY)
    await _drop_sessions(database)
    assert await repo.list(QUERY) == []  # within the idle window: no ping, one retry
    assert await repo.list(QUERY) == []
