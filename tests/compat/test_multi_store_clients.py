"""python-glanceclient's multi-store commands against a server with two filesystem backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import Cli, Payload, _cli, assert_holds_payload, property_table, unique
from tests.functional.test_multi_store import add_copy
from tests.server import LiveServer

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def stores_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stores")


@pytest.fixture(scope="module")
def multi_server(stores_dir: Path) -> Iterator[LiveServer]:
    server = LiveServer(
        stores_dir / "server",
        [
            "enabled_backends = fast:file, cheap:file",
            "[glance_store]",
            "default_backend = fast",
            "[fast]",
            f"filesystem_store_datadir = {stores_dir}/fast",
            "store_description = Fast local disks",
            "[cheap]",
            f"filesystem_store_datadir = {stores_dir}/cheap",
            "weight = 5",
        ],
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def glance_ms(multi_server: LiveServer, cli_env: tuple[Path, dict[str, str]]) -> Cli:
    args = ("--os-image-url", multi_server.url, "--os-auth-token", "x")
    return _cli("glance", "python-glanceclient", args, cli_env)


@pytest.fixture
def http(multi_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=multi_server.url, timeout=30, trust_env=False) as client:
        yield client


def _stores(output: str) -> list[dict[str, object]]:
    stores: list[dict[str, object]] = json.loads(property_table(output)["stores"])
    return stores


def test_stores_info(glance_ms: Cli) -> None:
    listed = _stores(glance_ms.run("stores-info").stdout)
    assert [(s["id"], s.get("default")) for s in listed] == [("fast", "true"), ("cheap", None)]
    detail = _stores(glance_ms.run("stores-info", "--detail").stdout)
    assert [(s["id"], s["type"], s["weight"]) for s in detail] == [
        ("fast", "file", 0),
        ("cheap", "file", 5),
    ]


def test_image_create_to_a_store_then_stores_delete(
    glance_ms: Cli,
    http: httpx.Client,
    multi_server: LiveServer,
    payload: Payload,
    stores_dir: Path,
) -> None:
    shown = property_table(
        glance_ms.run(
            "image-create", "--name", unique("ms"), "--disk-format", "raw",
            "--container-format", "bare", "--file", str(payload.path), "--store", "cheap",
        ).stdout
    )  # fmt: skip
    image_id = shown["id"]
    assert shown["stores"] == "cheap"
    assert (stores_dir / "cheap" / image_id).read_bytes() == payload.data
    assert_holds_payload(http, image_id, payload)

    add_copy(multi_server, image_id, "fast", stores_dir / "fast" / image_id, payload.data)
    assert http.get(f"/v2/images/{image_id}").json()["stores"] == "cheap,fast"
    glance_ms.run("stores-delete", "--store", "cheap", image_id)
    assert not (stores_dir / "cheap" / image_id).exists()
    assert http.get(f"/v2/images/{image_id}").json()["stores"] == "fast"
    assert_holds_payload(http, image_id, payload)

    refused = glance_ms.run("stores-delete", "--store", "fast", image_id, check=False)
    assert refused.returncode != 0
    assert "only store" in refused.stdout + refused.stderr
    http.delete(f"/v2/images/{image_id}")


def test_image_create_to_an_unknown_store_fails_cleanly(glance_ms: Cli, payload: Payload) -> None:
    result = glance_ms.run(
        "image-create", "--name", unique("ms"), "--disk-format", "raw",
        "--container-format", "bare", "--file", str(payload.path), "--store", "nowhere",
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "nowhere" in result.stdout + result.stderr
