"""The Swift store with Keystone v3 (``scripts/keystone.sh``) in front of the real Swift:
a proxy of the same Swift that validates Keystone tokens, found through the catalog."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from spyglass.errors import StoreMisconfigured
from spyglass.stores.swift import SwiftStore
from spyglass.stores.swift_auth import Catalog, Credentials
from spyglass.testing.store_contract import payload
from tests.integration.keystone.harness import keystone_url
from tests.integration.keystone.harness import run_script as keystone_script
from tests.integration.stores.swift_backend import (
    SCRIPT,
    SwiftProxy,
    container_name,
    run_script,
    swift_main,
)
from tests.server import free_port

__all__ = ["swift_main"]  # fixtures
ADMIN_PASSWORD = os.environ.get("KEYSTONE_ADMIN_PASSWORD", "admin-secret")


def _need(done_code: int, what: str, output: str) -> None:
    if done_code != 0:
        message = f"{what} failed:\n{output[-3000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _token(http: httpx.Client, user: str, password: str, project: str) -> str:
    identity = {"name": user, "domain": {"id": "default"}, "password": password}
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": identity}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    response = http.post("/v3/auth/tokens", json=body)
    response.raise_for_status()
    return response.headers["X-Subject-Token"]


def _register_swift(port: int) -> None:
    """An ``object-store`` service whose only endpoint (public, RegionOne) is our proxy."""
    with httpx.Client(base_url=keystone_url(), timeout=30, trust_env=False) as http:
        http.headers["X-Auth-Token"] = _token(http, "admin", ADMIN_PASSWORD, "admin")
        services = http.get("/v3/services", params={"type": "object-store"}).json()["services"]
        if services:
            service = services[0]["id"]
        else:
            body = {"service": {"type": "object-store", "name": "swift"}}
            service = http.post("/v3/services", json=body).json()["service"]["id"]
        for old in http.get("/v3/endpoints", params={"service_id": service}).json()["endpoints"]:
            http.delete(f"/v3/endpoints/{old['id']}")
        endpoint = {
            "service_id": service,
            "interface": "public",
            "region_id": "RegionOne",
            "url": f"http://127.0.0.1:{port}/v1/AUTH_$(project_id)s",
        }
        http.post("/v3/endpoints", json={"endpoint": endpoint}).raise_for_status()


@pytest.fixture(scope="module")
def keystone_proxy(swift_main: SwiftProxy) -> Iterator[SwiftProxy]:
    for command in ("install", "start"):
        if command == "install" or keystone_script("status", timeout=60).returncode != 0:
            done = keystone_script(command)
            _need(done.returncode, f"scripts/keystone.sh {command}", done.stdout + done.stderr)
    code, output = _run_swift("install", env={"SWIFT_WITH_KEYSTONE": "1"})
    _need(code, "SWIFT_WITH_KEYSTONE=1 scripts/swift.sh install", output)
    proxy = SwiftProxy(free_port())
    code, output = _run_swift("proxy-start", str(proxy.port), "86400", keystone_url())
    _need(code, "scripts/swift.sh proxy-start (Keystone)", output)
    _register_swift(proxy.port)
    yield proxy
    run_script("proxy-stop", str(proxy.port))


def _run_swift(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _credentials(password: str = "glance-secret") -> Credentials:
    return Credentials(f"{keystone_url()}/v3", "service:glance", password, auth_version="3")


@pytest.fixture
async def store(keystone_proxy: SwiftProxy) -> AsyncIterator[SwiftStore]:
    swift = SwiftStore(
        "swift-v3",
        references={"ref1": _credentials()},
        container=container_name("v3"),
        create_container=True,
        large_object_size=256 * 1024,
        segment_size=256 * 1024,
    )
    await swift.open()
    yield swift
    await swift.close()


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 65_536):
        yield data[start : start + 65_536]


async def test_keystone_v3_through_the_catalog(
    store: SwiftStore, keystone_proxy: SwiftProxy
) -> None:
    token = store.swift.tokens[store.references["ref1"]]
    assert token.storage_url.startswith(f"http://127.0.0.1:{keystone_proxy.port}/v1/AUTH_")
    data = payload(3 * 256 * 1024 + 11)
    written = await store.add("v3-image", _pieces(data), size=len(data))
    result = await store.get(written.location)
    assert b"".join([chunk async for chunk in result.stream]) == data
    await store.delete(written.location)


async def test_keystone_refusals_name_the_store(keystone_proxy: SwiftProxy) -> None:
    wrong = SwiftStore("swift-v3", references={"ref1": _credentials("wrong-9c2e")})
    with pytest.raises(StoreMisconfigured) as failed:
        await wrong.open()
    await wrong.close()
    assert "swift-v3" in failed.value.message and "wrong-9c2e" not in failed.value.message
    nowhere = SwiftStore(
        "swift-v3", references={"ref1": _credentials()}, catalog=Catalog(region="RegionNine")
    )
    with pytest.raises(StoreMisconfigured, match="no publicURL endpoint of type object-store"):
        await nowhere.open()
    await nowhere.close()
