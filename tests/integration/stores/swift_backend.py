"""The real Swift of ``scripts/swift.sh`` for the Swift store tests.

The session fixture installs and starts Swift (a no-op when it runs); each test
module gets its own extra proxy in front of the same storage, which its tests
may stop and start (an outage) without disturbing other users of the main one.
Everything the tests list or clean up goes through python-swiftclient, never
through the driver under test. Without Swift (no network to install it) the
tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import pytest
import swiftclient  # type: ignore[import-untyped]

from spyglass.stores.swift_auth import Credentials
from tests.server import free_port

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "swift.sh"
USER, KEY = "test:tester", "testing"


def run_script(*args: str, timeout: float = 900.0) -> subprocess.CompletedProcess[str]:
    """``scripts/swift.sh ARGS``, output captured; never raises for its exit code."""
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _need(*args: str) -> None:
    done = run_script(*args)
    if done.returncode != 0:
        message = (
            f"scripts/swift.sh {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@dataclass
class SwiftProxy:
    """One proxy of the test Swift, on ``port``."""

    port: int
    token_life: int | None = None
    """Seconds its tokens live; ``None`` for the main proxy's day."""

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/auth/v1.0"

    def credentials(self, key: str = KEY) -> Credentials:
        return Credentials(self.auth_url, USER, key, auth_version="1")

    def connection(self) -> swiftclient.Connection:
        return swiftclient.Connection(
            authurl=self.auth_url, user=USER, key=KEY, auth_version="1", retries=2
        )

    def stop(self) -> None:
        _need("proxy-stop", str(self.port))

    def start(self) -> None:
        _need("proxy-start", str(self.port), str(self.token_life or 86400))

    async def astop(self) -> None:
        await anyio.to_thread.run_sync(self.stop)

    async def astart(self) -> None:
        await anyio.to_thread.run_sync(self.start)

    async def names(self, container: str) -> list[str]:
        """Every object in ``container`` (none when it does not exist)."""

        def listing() -> list[str]:
            try:
                _, objects = self.connection().get_container(container, full_listing=True)
            except swiftclient.ClientException as exc:
                if exc.http_status == 404:
                    return []
                raise
            return [o["name"] for o in objects]

        return await anyio.to_thread.run_sync(listing)

    def remove_container(self, container: str) -> None:
        conn = self.connection()
        try:
            _, objects = conn.get_container(container, full_listing=True)
            for entry in objects:
                conn.delete_object(container, entry["name"])
            conn.delete_container(container)
        except swiftclient.ClientException:
            pass


@pytest.fixture(scope="session")
def swift_main() -> SwiftProxy:
    """The main proxy of a running Swift (``$SWIFT_PORT``, 8080)."""
    if run_script("status", timeout=60).returncode != 0:
        _need("install")
        _need("start")
    return SwiftProxy(int(os.environ.get("SWIFT_PORT", "8080")))


@pytest.fixture(scope="module")
def swift_proxy(swift_main: SwiftProxy) -> Iterator[SwiftProxy]:
    """An extra proxy of this module's own, which its tests may stop and start."""
    proxy = SwiftProxy(free_port())
    proxy.start()
    yield proxy
    run_script("proxy-stop", str(proxy.port))


def single_store_lines(proxy: SwiftProxy, container: str, segment_mib: int) -> list[str]:
    """Classic single-store options of a server whose default store is this Swift, as a
    seed-era glance-api.conf has them; images over two segments are segmented."""
    return [
        "[glance_store]",
        "default_store = swift",
        f"swift_store_auth_address = {proxy.auth_url}",
        f"swift_store_user = {USER}",
        f"swift_store_key = {KEY}",
        "swift_store_auth_version = 1",
        f"swift_store_container = {container}",
        "swift_store_create_container_on_put = true",
        f"swift_store_large_object_size = {2 * segment_mib}",
        f"swift_store_large_object_chunk_size = {segment_mib}",
    ]


@pytest.fixture(scope="module")
def module_container(swift_main: SwiftProxy) -> Iterator[str]:
    """A container of the test module's own, removed with what is left in it at its end."""
    name = container_name("module")
    yield name
    swift_main.remove_container(name)


def container_name(purpose: str) -> str:
    return f"spyglass-{purpose}-{uuid.uuid4().hex[:10]}"
