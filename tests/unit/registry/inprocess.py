"""A registry served in-process (httpx's ASGI transport) over a fresh database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from spyglass.db.engine import create_database
from spyglass.db.migrate import sync_schema
from spyglass.registry.connection import RegistryAddress, RegistryConnection
from spyglass.registry.repositories import Repositories, remote_repositories, sql_repositories
from spyglass.registry.server import RpcEndpoint
from spyglass.registry.trust import Trust, TrustMiddleware
from tests.databases import drop_database, fresh_database

TOKEN = "registry-test-token"


def registry_app(repositories: Repositories, token: str = TOKEN) -> Starlette:
    endpoint = RpcEndpoint(repositories)
    trust = Trust(token=token, certificates=False, keystone=False)
    return Starlette(
        routes=[Route("/rpc/{call}", endpoint.handle, methods=["POST"])],
        middleware=[Middleware(TrustMiddleware, trust=trust)],
    )


def connection(app: Starlette, token: str | None = TOKEN) -> RegistryConnection:
    address = RegistryAddress(url="http://registry", timeout=10, verify=True, auth_token=token)
    return RegistryConnection(address, transport=httpx.ASGITransport(app=app))


@asynccontextmanager
async def remote(backend: str, tmp_path: Path) -> AsyncIterator[Repositories]:
    """The repositories of ``backend``'s fresh database, as an API server sees them through
    a registry."""
    url, name = await fresh_database(backend, tmp_path)
    database = create_database(url)
    rpc = connection(registry_app(sql_repositories(database, None)))
    try:
        await sync_schema(database)
        yield remote_repositories(rpc, events=False)
    finally:
        await rpc.aclose()
        await database.dispose()
        await drop_database(backend, name)
