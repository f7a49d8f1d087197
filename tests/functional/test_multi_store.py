"""Multi-store over a real socket: two filesystem backends, as upstream's enabled_backends."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import create, upload
from tests.server import LiveServer

pytestmark = pytest.mark.backends("sqlite")  # add_copy writes the embedded SQLite file directly

ADMIN = {"X-Identity-Status": "Confirmed", "X-Project-Id": "p1", "X-Roles": "admin,member"}
MEMBER = {"X-Identity-Status": "Confirmed", "X-Project-Id": "p1", "X-Roles": "member,reader"}
IMAGE = {"disk_format": "raw", "container_format": "bare"}


@pytest.fixture
def server(server_factory: Callable[..., LiveServer], tmp_path: Path) -> LiveServer:
    return server_factory(
        "enabled_backends = fast:file, cheap:file, web:http",
        "[paste_deploy]",
        "flavor = trusted-auth",
        "[glance_store]",
        "default_backend = fast",
        "[fast]",
        f"filesystem_store_datadir = {tmp_path}/fast",
        "store_description = Fast local disks",
        "weight = 10",
        "[cheap]",
        f"filesystem_store_datadir = {tmp_path}/cheap",
        "weight = 50",
    )


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30, trust_env=False) as http:
        yield http


def add_copy(server: LiveServer, image_id: str, store: str | None, path: Path, data: bytes) -> None:
    """Give the image a second location, as ``copy-image`` would, straight in the database
    (``store`` None: recorded without one, as single-store Glance did)."""
    path.write_bytes(data)
    now = f"{datetime.now(UTC):%F %T.%f}"
    with sqlite3.connect(server.data_dir / "spyglass.sqlite") as db:
        db.execute(
            "INSERT INTO image_locations (image_id, value, meta_data, status, created_at, deleted)"
            " VALUES (?, ?, ?, 'active', ?, 0)",
            (
                image_id,
                path.as_uri(),
                json.dumps({} if store is None else {"store": store}),
                now,
            ),
        )


def test_stores_are_listed(client: httpx.Client, server: LiveServer, tmp_path: Path) -> None:
    assert client.get("/v2/info/stores").json() == {
        "stores": [
            {"id": "fast", "description": "Fast local disks", "default": "true"},
            {"id": "cheap"},
            {"id": "web", "read-only": "true"},
        ]
    }
    detail = client.get("/v2/info/stores/detail").json()["stores"]
    assert detail[0] == {
        "id": "fast",
        "description": "Fast local disks",
        "default": "true",
        "type": "file",
        "weight": 10,
        "properties": {
            "data_dir": str(tmp_path / "fast"),
            "chunk_size": 65536,
            "thin_provisioning": False,
        },
    }
    assert detail[1]["weight"] == 50
    assert (detail[2]["type"], detail[2]["weight"]) == ("http", 0)
    refused = client.get("/v2/info/stores/detail", headers=MEMBER)
    assert refused.status_code == 403
    assert client.post("/v2/info/stores").status_code == 405


def test_upload_goes_to_the_chosen_store(client: httpx.Client, tmp_path: Path) -> None:
    response = client.post("/v2/images", json=IMAGE)
    assert response.headers["OpenStack-image-store-ids"] == "fast,cheap,web"
    image = response.json()
    assert "stores" not in image
    stored = upload(client, image["id"], b"to the cheap store", **{"X-Image-Meta-Store": "cheap"})
    assert stored.status_code == 204
    assert (tmp_path / "cheap" / image["id"]).read_bytes() == b"to the cheap store"
    assert not (tmp_path / "fast" / image["id"]).exists()
    assert client.get(f"/v2/images/{image['id']}").json()["stores"] == "cheap"
    assert client.get(f"/v2/images/{image['id']}/file").content == b"to the cheap store"

    default = create(client, **IMAGE)
    assert upload(client, default["id"], b"default").status_code == 204
    assert client.get(f"/v2/images/{default['id']}").json()["stores"] == "fast"
    assert (tmp_path / "fast" / default["id"]).read_bytes() == b"default"


def test_an_unknown_store_is_refused_before_any_data(client: httpx.Client) -> None:
    image = create(client, **IMAGE)
    response = upload(client, image["id"], b"x", **{"X-Image-Meta-Store": "nowhere"})
    assert response.status_code == 400
    assert "Store for identifier nowhere not found" in response.text
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_a_read_only_store_takes_no_uploads(client: httpx.Client) -> None:
    image = create(client, **IMAGE)
    response = upload(client, image["id"], b"x", **{"X-Image-Meta-Store": "web"})
    assert response.status_code == 410
    assert "Adding images to store is disabled" in response.text
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_reads_prefer_the_heavier_store_and_delete_from_one_store(
    client: httpx.Client, server: LiveServer, tmp_path: Path
) -> None:
    image = create(client, **IMAGE)
    assert upload(client, image["id"], b"fast copy").status_code == 204
    cheap_copy = tmp_path / "cheap" / image["id"]
    add_copy(server, image["id"], "cheap", cheap_copy, b"cheap copy")
    assert client.get(f"/v2/images/{image['id']}").json()["stores"] == "fast,cheap"
    assert client.get(f"/v2/images/{image['id']}/file").content == b"cheap copy"  # weight 50

    assert client.delete(f"/v2/stores/nowhere/{image['id']}").status_code == 409
    assert client.delete(f"/v2/stores/cheap/{image['id']}", headers=MEMBER).status_code == 403
    assert client.delete(f"/v2/stores/cheap/{image['id']}").status_code == 204
    assert not cheap_copy.exists()
    assert client.get(f"/v2/images/{image['id']}").json()["stores"] == "fast"
    assert client.get(f"/v2/images/{image['id']}/file").content == b"fast copy"

    last = client.delete(f"/v2/stores/fast/{image['id']}")
    assert last.status_code == 403
    assert "only store containing it" in last.text
    assert (tmp_path / "fast" / image["id"]).exists()


def test_delete_from_store_needs_an_active_image_in_that_store(
    client: httpx.Client, server: LiveServer, tmp_path: Path
) -> None:
    queued = create(client, **IMAGE)
    assert client.delete(f"/v2/stores/fast/{queued['id']}").status_code == 409
    missing = "00000000-0000-4000-8000-000000000000"
    assert client.delete(f"/v2/stores/fast/{missing}").status_code == 404

    image = create(client, **IMAGE)
    assert upload(client, image["id"], b"data").status_code == 204
    add_copy(server, image["id"], "fast", tmp_path / "fast" / f"{image['id']}-2", b"data")
    response = client.delete(f"/v2/stores/cheap/{image['id']}")
    assert response.status_code == 404
    assert f"Image {image['id']} is not stored in store cheap." in response.text


def test_single_store_has_no_stores_api(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30, trust_env=False) as plain:
        assert plain.get("/v2/info/stores").status_code == 404
        assert plain.get("/v2/info/stores/detail").status_code == 404
        response = plain.post("/v2/images", json=IMAGE)
        assert "OpenStack-image-store-ids" not in response.headers
        assert "stores" not in response.json()
        image_id = response.json()["id"]
        assert (
            upload(plain, image_id, b"x", **{"X-Image-Meta-Store": "whatever"}).status_code == 204
        )
        assert "stores" not in plain.get(f"/v2/images/{image_id}").json()
        assert plain.delete(f"/v2/stores/file/{image_id}").status_code == 404


@pytest.mark.parametrize("recorded", [None, "file", "renamed"])
def test_locations_from_single_store_days_are_placed_by_their_url(
    client: httpx.Client, server: LiveServer, tmp_path: Path, recorded: str | None
) -> None:
    image = create(client, **IMAGE)
    assert upload(client, image["id"], b"fast copy").status_code == 204
    old = tmp_path / "cheap" / image["id"]
    add_copy(server, image["id"], recorded, old, b"old copy")
    assert client.get(f"/v2/images/{image['id']}").json()["stores"] == "fast,cheap"
    assert client.get(f"/v2/images/{image['id']}/file").content == b"old copy"  # weight 50
    assert client.delete(f"/v2/stores/cheap/{image['id']}").status_code == 204
    assert not old.exists()
    assert client.get(f"/v2/images/{image['id']}").json()["stores"] == "fast"
