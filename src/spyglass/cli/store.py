"""``spyglass store check``: can this host reach, write, read and delete in every store?

Run it on an API host before (or instead of) starting the server: it builds the
stores from the same configuration, opens each one and, where the driver
writes, puts a small probe object, reads it back, compares and deletes it. One
line per store; the exit status is 1 when any store fails, 2 for a
configuration that cannot be read.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import anyio
import typer

from spyglass.cli.options import ConfigDir, ConfigFiles, DataDir
from spyglass.config import load_settings
from spyglass.errors import ConfigError, SpyglassError
from spyglass.stores.base import Capability, Store
from spyglass.stores.registry import StoreSet

PROBE_SIZE = 4096

store_app = typer.Typer(help="Check the configured image stores.", no_args_is_help=True)


@store_app.command()
def check(
    config_file: ConfigFiles = None,
    config_dir: ConfigDir = None,
    data_dir: DataDir = Path("data"),
    timeout: Annotated[float, typer.Option(help="Seconds allowed per store.")] = 60.0,
) -> None:
    """Open every configured store and write, read and delete a small probe object."""
    from spyglass.api.app import build_stores

    try:
        stores = build_stores(load_settings(config_file or (), config_dir, {}), data_dir)
    except ConfigError as exc:
        typer.echo(f"spyglass: error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    failed = asyncio.run(_check_all(stores, timeout))
    raise typer.Exit(1 if failed else 0)


async def _check_all(stores: StoreSet, seconds_each: float) -> int:
    failed = 0
    for backend_id, store in stores.stores.items():
        default = ", default" if backend_id == stores.default_id else ""
        label = f"{backend_id} ({store.driver}{default})"
        started = time.monotonic()
        try:
            with anyio.fail_after(seconds_each):
                done = await probe(store)
        except TimeoutError:
            failed += 1
            typer.echo(f"{label}: FAILED: no answer within {seconds_each:g} s")
        except (SpyglassError, OSError) as exc:
            failed += 1
            typer.echo(f"{label}: FAILED: {_reason(exc)}")
        else:
            typer.echo(f"{label}: ok: {done} in {time.monotonic() - started:.2f} s")
        finally:
            await store.close()
    return failed


async def probe(store: Store) -> str:
    """Open the store and, if it writes, round-trip a probe object; what was done."""
    await store.open()
    if not store.capabilities & Capability.WRITE:
        return "opened (a read-only driver)"
    data = os.urandom(PROBE_SIZE)
    written = await store.add(f"spyglass-probe-{uuid.uuid4()}", _once(data), size=len(data))
    try:
        result = await store.get(written.location)
        back = b"".join([chunk async for chunk in result.stream])
        if back != data:
            raise SpyglassError(f"read back {len(back)} bytes that differ from the probe")
    finally:
        with anyio.CancelScope(shield=True):
            await store.delete(written.location)
    return f"wrote, read back and deleted {PROBE_SIZE} bytes"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SpyglassError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"
