"""Fresh databases of each supported kind, for repository tests.

SQLite is always there. PostgreSQL and MariaDB/MySQL are the servers this
machine kind runs on loopback (``.ci/run`` starts them when they are down);
set ``SPYGLASS_TEST_POSTGRES``/``SPYGLASS_TEST_MYSQL`` to other admin URLs.
A backend whose server does not answer is skipped, with the reason.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from spyglass.db.engine import async_url

POSTGRES = os.environ.get("SPYGLASS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL = os.environ.get("SPYGLASS_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
BACKENDS = ("sqlite", "postgresql", "mysql")


async def fresh_database(backend: str, tmp_path: Path) -> tuple[str, str | None]:
    """A connection URL to an empty database, and the name to drop afterwards."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}", None
    admin = POSTGRES if backend == "postgresql" else MYSQL
    name = f"spyglass_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(async_url(admin), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f"CREATE DATABASE {name}"))
    except (OSError, Exception) as exc:  # the server is not there
        pytest.skip(f"{backend} at {admin} does not answer: {exc.__class__.__name__}")
    finally:
        await engine.dispose()
    base = admin.rsplit("/", 1)[0]
    return f"{base}/{name}", name


async def drop_database(backend: str, name: str | None) -> None:
    if name is None:
        return
    admin = POSTGRES if backend == "postgresql" else MYSQL
    engine = create_async_engine(async_url(admin), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            force = " WITH (FORCE)" if backend == "postgresql" else ""  # a lingering session
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        await engine.dispose()
