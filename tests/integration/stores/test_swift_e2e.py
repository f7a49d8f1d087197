"""Images on Swift end to end: a live server whose default store is the real Swift,
driven over HTTP and by python-glanceclient's ``glance``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.compat.conftest import cli_env
from tests.integration.stores.glance_round_trip import digests, glance_round_trip
from tests.integration.stores.swift_backend import (
    KEY,
    USER,
    SwiftProxy,
    container_name,
    module_container,
    single_store_lines,
    swift_main,
)
from tests.memory import MIB, assert_memory_is_flat
from tests.server import LiveServer, pattern_stream

__all__ = ["cli_env", "module_container", "swift_main"]  # fixtures
SIZE = 64 * MIB
SEGMENT_MIB = 8


@pytest.fixture(scope="module")
def container(module_container: str) -> str:
    return module_container


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, swift_main: SwiftProxy, container: str
) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("swift-e2e"), single_store_lines(swift_main, container, SEGMENT_MIB)
    ).start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=300, trust_env=False) as http:
        yield http


def test_64_mib_over_the_api(client: httpx.Client, swift_main: SwiftProxy, container: str) -> None:
    image = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    image_id = image.json()["id"]
    response = client.put(
        f"/v2/images/{image_id}/file",
        content=pattern_stream(SIZE),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 204, response.text
    shown = client.get(f"/v2/images/{image_id}").json()
    md5, sha512 = digests(pattern_stream(SIZE))
    assert (shown["status"], shown["size"]) == ("active", SIZE)
    assert (shown["checksum"], shown["os_hash_value"]) == (md5, sha512)
    with client.stream("GET", f"/v2/images/{image_id}/file") as download:
        assert download.status_code == 200
        assert download.headers["Content-MD5"] == md5
        assert digests(download.iter_raw()) == (md5, sha512)
    ranged = client.get(
        f"/v2/images/{image_id}/file", headers={"Range": f"bytes={SEGMENT_MIB * MIB - 10}-"}
    )
    assert ranged.status_code == 206
    assert ranged.content == b"".join(pattern_stream(SIZE))[SEGMENT_MIB * MIB - 10 :]

    segments = [f"{image_id}-{n:05d}" for n in range(1, SIZE // (SEGMENT_MIB * MIB) + 1)]
    names = anyio.run(swift_main.names, container)
    assert sorted(n for n in names if n.startswith(image_id)) == [image_id, *segments]
    assert client.delete(f"/v2/images/{image_id}").status_code == 204
    names = anyio.run(swift_main.names, container)
    assert [n for n in names if n.startswith(image_id)] == []


def test_64_mib_with_the_glance_client(
    server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    glance_round_trip(server, client, tmp_path, SIZE, "swift-e2e")


@pytest.mark.slow
def test_peak_rss_is_flat_on_swift(server: LiveServer) -> None:
    assert_memory_is_flat(server, small=16 * MIB, large=256 * MIB)


@pytest.fixture(scope="module")
def multi(
    tmp_path_factory: pytest.TempPathFactory, swift_main: SwiftProxy, container: str
) -> Iterator[LiveServer]:
    """``enabled_backends`` with a local store (the default) and Swift."""
    data = tmp_path_factory.mktemp("swift-multi")
    live = LiveServer(
        data,
        [
            "enabled_backends = local:file, sw:swift",
            "[glance_store]",
            "default_backend = local",
            "[local]",
            f"filesystem_store_datadir = {data}/local",
            "[sw]",
            f"swift_store_auth_address = {swift_main.auth_url}",
            f"swift_store_user = {USER}",
            f"swift_store_key = {KEY}",
            "swift_store_auth_version = 1",
            f"swift_store_container = {container}",
            "swift_store_create_container_on_put = true",
            "swift_store_large_object_size = 1",
            "swift_store_large_object_chunk_size = 1",
            "weight = 100",
        ],
    ).start()
    yield live
    live.stop()


def test_multi_store_upload_to_swift_copy_and_delete_from_one_store(
    multi: LiveServer, swift_main: SwiftProxy, container: str
) -> None:
    data = b"".join(pattern_stream(3 * MIB + 5))
    with httpx.Client(base_url=multi.url, timeout=120, trust_env=False) as http:
        detail = {s["id"]: s for s in http.get("/v2/info/stores/detail").json()["stores"]}
        assert detail["sw"]["type"] == "swift"
        assert detail["sw"]["properties"] == {
            "container": container,
            "large_object_size": MIB,
            "large_object_chunk_size": MIB,
        }
        image = http.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
        image_id = image.json()["id"]
        assert "sw" in image.headers["OpenStack-image-store-ids"].split(",")
        stored = http.put(
            f"/v2/images/{image_id}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "sw"},
        )
        assert stored.status_code == 204, stored.text
        assert http.get(f"/v2/images/{image_id}").json()["stores"] == "sw"
        names = anyio.run(swift_main.names, container)
        assert sorted(n for n in names if n.startswith(image_id))[:2] == [
            image_id,
            f"{image_id}-00001",
        ]
        copied = http.post(
            f"/v2/images/{image_id}/import",
            json={"method": {"name": "copy-image"}, "stores": ["local"]},
        )
        assert copied.status_code == 202, copied.text
        for _ in range(120):
            if http.get(f"/v2/images/{image_id}").json()["stores"] == "sw,local":
                break
            time.sleep(0.5)
        assert http.get(f"/v2/images/{image_id}").json()["stores"] == "sw,local"
        assert http.get(f"/v2/images/{image_id}/file").content == data  # weight 100: Swift
        assert http.delete(f"/v2/stores/sw/{image_id}").status_code == 204
        assert http.get(f"/v2/images/{image_id}").json()["stores"] == "local"
        names = anyio.run(swift_main.names, container)
        assert [n for n in names if n.startswith(image_id)] == []
        assert http.get(f"/v2/images/{image_id}/file").content == data
        http.delete(f"/v2/images/{image_id}")


@pytest.mark.parametrize("problem", ["wrong key", "missing container"])
def test_a_misconfigured_swift_store_starts_read_only(
    tmp_path: Path, swift_main: SwiftProxy, problem: str
) -> None:
    """The server starts; uploads answer 503; the log says why, without the key."""
    key, create = ("wrong-key-51d0", "true") if problem == "wrong key" else (KEY, "false")
    missing = container_name("absent")
    live = LiveServer(
        tmp_path / "server",
        [
            "[glance_store]",
            "default_store = swift",
            f"swift_store_auth_address = {swift_main.auth_url}",
            f"swift_store_user = {USER}",
            f"swift_store_key = {key}",
            "swift_store_auth_version = 1",
            f"swift_store_container = {missing}",
            f"swift_store_create_container_on_put = {create}",
        ],
    ).start()
    try:
        with httpx.Client(base_url=live.url, timeout=60, trust_env=False) as http:
            image = http.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
            response = http.put(
                f"/v2/images/{image.json()['id']}/file",
                content=b"data",
                headers={"Content-Type": "application/octet-stream", "Accept": "application/json"},
            )
            assert response.status_code == 503
            assert "Retry-After" in response.headers
            assert key not in response.text
    finally:
        live.stop()
    log = live.log.read_text()
    assert "store swift (swift) is read-only: Swift store swift" in log
    reason = "refused the store's credentials" if problem == "wrong key" else missing
    assert reason in log
    assert "wrong-key-51d0" not in log and USER not in log


def test_references_of_a_config_file_name_new_locations(
    tmp_path: Path, swift_main: SwiftProxy, container: str
) -> None:
    """``swift_store_config_file``: new locations name the reference, never its key."""
    accounts = tmp_path / "glance-swift.conf"
    accounts.write_text(
        f"[tempauth]\nauth_address = {swift_main.auth_url}\nuser = {USER}\nkey = '{KEY}'\n"
        "auth_version = 1\n"
    )
    live = LiveServer(
        tmp_path / "server",
        [
            "show_multiple_locations = true",
            "[glance_store]",
            "default_store = swift",
            f"swift_store_config_file = {accounts}",
            "default_swift_reference = tempauth",
            f"swift_store_container = {container}",
            "swift_store_create_container_on_put = true",
        ],
    ).start()
    try:
        with httpx.Client(base_url=live.url, timeout=60, trust_env=False) as http:
            image = http.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
            image_id = image.json()["id"]
            stored = http.put(
                f"/v2/images/{image_id}/file",
                content=b"referenced",
                headers={"Content-Type": "application/octet-stream"},
            )
            assert stored.status_code == 204, stored.text
            shown = http.get(f"/v2/images/{image_id}")
            assert [loc["url"] for loc in shown.json()["locations"]] == [
                f"swift+config://tempauth/{container}/{image_id}"
            ]
            assert KEY not in shown.text and USER not in shown.text
            assert http.get(f"/v2/images/{image_id}/file").content == b"referenced"
            assert http.delete(f"/v2/images/{image_id}").status_code == 204
    finally:
        live.stop()
    assert [n for n in anyio.run(swift_main.names, container) if n.startswith(image_id)] == []
