"""The mixed load's short form: 50 clients for two 10-second phases on PostgreSQL.

Every answer is checked, every download compared with its upload's checksum; the
server's open file descriptors and PostgreSQL connections must plateau (the second
phase ends where the first did) and so must its memory. ``bench/load.py`` runs the
full two minutes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from spyglass.db.engine import async_url
from tests.databases import POSTGRES, drop_database, fresh_database
from tests.load.mixed import LoadReport, open_fds, rss_mib, run_load
from tests.server import LiveServer

pytestmark = pytest.mark.slow
CLIENTS = 50
PHASE = 10.0


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, str]]:
    connection, name = asyncio.run(fresh_database("postgresql", tmp_path))
    assert name is not None
    conf = tmp_path / "sync.conf"
    conf.write_text(f"[database]\nconnection = {connection}\n")
    subprocess.run(
        [sys.executable, "-m", "spyglass", "db", "sync", "--config-file", str(conf)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    yield connection, name
    asyncio.run(drop_database("postgresql", name))


async def _connections(name: str) -> int:
    engine = create_async_engine(async_url(POSTGRES))
    try:
        async with engine.connect() as connection:
            query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name")
            return int((await connection.execute(query, {"name": name})).scalar_one())
    finally:
        await engine.dispose()


def _phase(server: LiveServer, samples: list[float]) -> LoadReport:
    report = asyncio.run(
        run_load(server.url, clients=CLIENTS, duration=PHASE, sizes=(1024, 256 * 1024),
                 on_tick=lambda _: samples.append(rss_mib(server.pid)))
    )  # fmt: skip
    assert not report.errors, report.errors[:5]
    assert not report.mismatches, report.mismatches[:5]
    assert report.operations["download"] > 50
    return report


def _settled_fds(pid: int) -> int:
    time.sleep(1.0)  # the clients' closed connections reach the server
    return open_fds(pid)


def test_mixed_load_has_no_errors_mismatches_or_leaks(
    tmp_path: Path, database: tuple[str, str]
) -> None:
    connection, name = database
    server = LiveServer(tmp_path / "server", ["[database]", f"connection = {connection}"]).start()
    try:
        first: list[float] = []
        second: list[float] = []
        _phase(server, first)
        fds_first, connections_first = _settled_fds(server.pid), asyncio.run(_connections(name))
        _phase(server, second)
        fds_second, connections_second = _settled_fds(server.pid), asyncio.run(_connections(name))
    finally:
        server.stop()
    assert fds_second <= fds_first + 2, (fds_first, fds_second)
    assert connections_second <= max(connections_first, 15), (
        connections_first,
        connections_second,
    )  # the pool's bound: max_pool_size 5 + max_overflow 10
    assert max(second) < max(first) + 30, (max(first), max(second))  # MiB: memory is flat
