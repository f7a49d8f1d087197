"""The configurations end-to-end servers run in: each database, directly or through a registry.

The functional suite runs once per configuration (``--backends`` or
``SPYGLASS_TEST_BACKENDS`` picks some, comma-separated; all six by default):

| name | database | API server to metadata |
|---|---|---|
| ``sqlite`` | embedded SQLite | directly |
| ``sqlite-registry`` | embedded SQLite (the registry's) | registry over HTTP, shared token |
| ``postgresql`` | a fresh PostgreSQL database | directly |
| ``postgresql-registry`` | a fresh PostgreSQL database | registry over HTTPS, shared token |
| ``mysql`` | a fresh MariaDB/MySQL database | directly |
| ``mysql-registry`` | a fresh MariaDB/MySQL database | registry over HTTPS, client certificates |

A ``Provisioner`` gives every server data directory its own database (the same one when a
test restarts a server on its directory) and, in registry configurations, its own registry
process in front of it. Databases are cloned from one schema synced per session (a
``TEMPLATE`` on PostgreSQL, the tables' DDL on MySQL: a sync takes seconds, a clone a
fraction of one) and all are dropped at the end. Certificates come from a CA made by
``trustme`` for the session.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from spyglass.db.engine import async_url
from tests.databases import MYSQL, POSTGRES


@dataclass(frozen=True)
class Backend:
    name: str
    database: str
    """``sqlite``, ``postgresql`` or ``mysql``."""
    registry: str | None = None
    """``None`` (direct), ``http`` (token), ``https`` (token) or ``mtls`` (client certificates)."""


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("sqlite", "sqlite"),
        Backend("sqlite-registry", "sqlite", "http"),
        Backend("postgresql", "postgresql"),
        Backend("postgresql-registry", "postgresql", "https"),
        Backend("mysql", "mysql"),
        Backend("mysql-registry", "mysql", "mtls"),
    )
}


def selected(option: str | None) -> list[str]:
    """The configuration names ``--backends``/``SPYGLASS_TEST_BACKENDS`` asks for."""
    raw = option or os.environ.get("SPYGLASS_TEST_BACKENDS") or "all"
    if raw.strip() == "all":
        return list(BACKENDS)
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise pytest.UsageError(f"--backends: unknown {unknown}; known: {', '.join(BACKENDS)}")
    return names


def _admin(database: str) -> str:
    return POSTGRES if database == "postgresql" else MYSQL


async def _autocommit(database: str, statements: Sequence[str]) -> list[list[tuple[str, ...]]]:
    engine = create_async_engine(async_url(_admin(database)), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            return [await _run(connection, s) for s in statements]
    finally:
        await engine.dispose()


async def _run(connection: AsyncConnection, statement: str) -> list[tuple[str, ...]]:
    result = await connection.exec_driver_sql(statement)
    return [tuple(row) for row in result] if result.returns_rows else []


@dataclass
class TlsFiles:
    """A session CA, the registry's certificate for 127.0.0.1, and a client certificate."""

    ca: Path
    server: Path
    client: Path

    @classmethod
    def make(cls, directory: Path) -> TlsFiles:
        import trustme

        directory.mkdir(parents=True, exist_ok=True)
        authority = trustme.CA()
        files = cls(directory / "ca.pem", directory / "server.pem", directory / "client.pem")
        authority.cert_pem.write_to_path(str(files.ca))
        authority.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
            str(files.server)
        )
        authority.issue_cert(
            "spyglass-api@example.test"
        ).private_key_and_cert_chain_pem.write_to_path(str(files.client))
        return files

    def client_context(self, *, certificate: bool) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        if certificate:
            context.load_cert_chain(str(self.client))
        return context


@dataclass
class Provisioner:
    """Databases, registries and certificates for one configuration, for one session."""

    backend: Backend
    root: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    tls: TlsFiles | None = None
    _template: str | None = None
    _mysql_tables: list[tuple[str, str]] = field(default_factory=list)
    _databases: dict[Path, str] = field(default_factory=dict)

    def database_url(self, data_dir: Path) -> str | None:
        """The database of the server whose data directory this is (``None``: embedded SQLite)."""
        if self.backend.database == "sqlite":
            return None
        key = data_dir.resolve()
        if key not in self._databases:
            self._databases[key] = self._clone()
        base = _admin(self.backend.database).rsplit("/", 1)[0]
        return f"{base}/{self._databases[key]}"

    def tls_files(self) -> TlsFiles:
        if self.tls is None:
            self.tls = TlsFiles.make(self.root / "tls")
        return self.tls

    def _clone(self) -> str:
        if self._template is None:
            self._template = self._make_template()
        name = f"spyglass_test_{uuid.uuid4().hex[:12]}"
        if self.backend.database == "postgresql":
            asyncio.run(
                _autocommit("postgresql", [f"CREATE DATABASE {name} TEMPLATE {self._template}"])
            )
        else:
            statements = [f"CREATE DATABASE {name}", f"USE {name}", "SET FOREIGN_KEY_CHECKS=0"]
            statements += [ddl for _, ddl in self._mysql_tables]
            statements += [
                f"INSERT INTO {name}.{t} SELECT * FROM {self._template}.{t}"
                for t, _ in self._mysql_tables
            ]
            asyncio.run(_autocommit("mysql", statements))
        return name

    def _make_template(self) -> str:
        name = f"spyglass_test_{uuid.uuid4().hex[:12]}_t"
        try:
            asyncio.run(_autocommit(self.backend.database, [f"CREATE DATABASE {name}"]))
        except Exception as exc:  # the server is not there
            reason = f"{self.backend.database} at {_admin(self.backend.database)} does not answer"
            if os.environ.get("CI") == "true":
                raise RuntimeError(reason) from exc
            pytest.skip(f"{reason}: {exc.__class__.__name__}")
        self._template = name
        base = _admin(self.backend.database).rsplit("/", 1)[0]
        sync_schema(f"{base}/{name}", self.root / "template-sync")
        if self.backend.database == "mysql":
            tables = asyncio.run(_autocommit("mysql", [f"SHOW TABLES FROM {name}"]))[0]
            created = asyncio.run(
                _autocommit("mysql", [f"SHOW CREATE TABLE {name}.{t}" for (t,) in tables])
            )
            self._mysql_tables = [(rows[0][0], rows[0][1]) for rows in created]
        return name

    def close(self) -> None:
        names = list(self._databases.values()) + ([self._template] if self._template else [])
        self._databases.clear()
        if names:
            # A server or registry that was just stopped may still hold a session a moment;
            # PostgreSQL can end it (WITH (FORCE)), MySQL drops regardless.
            force = " WITH (FORCE)" if self.backend.database == "postgresql" else ""
            drops = [f"DROP DATABASE IF EXISTS {n}{force}" for n in names]
            asyncio.run(_autocommit(self.backend.database, drops))


def sync_schema(connection: str, data_dir: Path) -> None:
    """``spyglass db sync`` on ``connection``, as an operator runs it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = data_dir / "sync.conf"
    conf.write_text(f"[database]\nconnection = {connection}\n")
    subprocess.run(
        [sys.executable, "-m", "spyglass", "db", "sync", "--config-file", str(conf),
         "--data-dir", str(data_dir)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


_ACTIVE: list[Provisioner] = []


def activate(provisioner: Provisioner | None) -> None:
    """Make ``provisioner`` the one servers started from now on use (``None``: plain SQLite)."""
    _ACTIVE[:] = [] if provisioner is None else [provisioner]


def active() -> Provisioner | None:
    return _ACTIVE[0] if _ACTIVE else None


DATA_PATH = ("sqlite", "postgresql-registry")
"""Where tests of the byte path (cache, memory, format inspection) run: what they check does
not depend on where metadata lives, so one direct and one registry configuration suffice."""

SUBSECOND = tuple(name for name, b in BACKENDS.items() if b.database != "mysql")
"""Where timestamps keep fractions of a second: MySQL's ``DATETIME`` columns (upstream's
schema) keep whole seconds, so images made within one second tie in ``created_at`` order."""

DIRECT = tuple(name for name, b in BACKENDS.items() if b.registry is None)
"""Configurations where the API server has the database itself (what ``spyglass gc`` and the
healthcheck's database check read)."""
