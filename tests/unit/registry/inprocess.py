"""A registry served in the test's own event loop (uvicorn on a loopback port) over a
fresh database: the client speaks to it over a real socket, as API servers do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from spyglass.db.engine import create_database
from spyglass.db.migrate import sync_schema
from spyglass.registry.connection import RegistryAddress, RegistryConnection
from spyglass.registry.repositories import Repositories, remote_repositories, sql_repositories
from spyglass.registry.server import RpcEndpoint
from spyglass.registry.trust import Trust, TrustMiddleware
from tests.databases import drop_database, fresh_database
from tests.server import free_port

TOKEN = "registry-test-token"


def registry_app(repositories: Repositories, token: str = TOKEN) -> ASGIApp:
    """The registry's calls behind its trust check (no lifespan, access lines or ids)."""
    trust = Trust(token=token, certificates=False, keystone=False)
    return TrustMiddleware(RpcEndpoint(repositories), trust=trust)


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """``app`` on a free loopback port until the block ends; yields its URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it failed to start: say why
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def connection(app: ASGIApp, token: str | None = TOKEN) -> AsyncIterator[RegistryConnection]:
    async with serving(app) as url:
        address = RegistryAddress(url=url, timeout=10, verify=True, auth_token=token)
        rpc = RegistryConnection(address)
        try:
            yield rpc
        finally:
            await rpc.aclose()


@asynccontextmanager
async def remote(backend: str, tmp_path: Path) -> AsyncIterator[Repositories]:
    """The repositories of ``backend``'s fresh database, as an API server sees them through
    a registry."""
    url, name = await fresh_database(backend, tmp_path)
    database = create_database(url)
    try:
        await sync_schema(database)
        async with connection(registry_app(sql_repositories(database, None))) as rpc:
            yield remote_repositories(rpc, events=False)
    finally:
        await database.dispose()
        await drop_database(backend, name)
