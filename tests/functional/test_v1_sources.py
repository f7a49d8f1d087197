"""v1's remote data over a real socket: ``x-image-meta-location`` registers a URL of a
web server on loopback, ``x-glance-api-copy-from`` copies one into the default store,
both under the outbound rules (which these servers open to loopback)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.http_origin import HttpOrigin
from tests.server import LiveServer

DATA = hashlib.sha512(b"v1 sources").digest() * 20_000 + b"tail"  # about 1.3 MiB
FORMATS = {"x-image-meta-disk-format": "raw", "x-image-meta-container-format": "bare"}
LOOPBACK_ALLOWED = (
    "show_multiple_locations = true",
    "[import_filtering_opts]",
    "allowed_ports =",
    "allowed_networks = 127.0.0.0/8",
)


@pytest.fixture
def client(server_factory: Callable[..., LiveServer]) -> Iterator[httpx.Client]:
    server = server_factory(*LOOPBACK_ALLOWED)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield http


def _create(client: httpx.Client, **headers: str) -> httpx.Response:
    return client.post("/v1/images", headers={"x-image-meta-name": "remote", **FORMATS, **headers})


def _wait_for(client: httpx.Client, image_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        image: dict[str, Any] = client.get(f"/v2/images/{image_id}").json()
        if image["status"] in statuses or time.monotonic() > deadline:
            return image
        time.sleep(0.05)


def _image_count(client: httpx.Client) -> int:
    return len(client.get("/v2/images").json()["images"])


def test_location_registers_the_url(client: httpx.Client, origin: HttpOrigin) -> None:
    url = origin.put("/disk.raw", DATA)
    created = _create(client, **{"x-image-meta-location": url, "x-image-meta-is-public": "true"})
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    assert (image["status"], image["size"], image["is_public"]) == ("active", len(DATA), True)
    assert "location" not in image
    head = client.head(f"/v1/images/{image['id']}")
    assert "x-image-meta-location" not in head.headers
    data = client.get(f"/v1/images/{image['id']}")
    assert data.status_code == 200 and data.content == DATA
    v2 = client.get(f"/v2/images/{image['id']}").json()
    assert v2["locations"] == [{"url": url, "metadata": {}}]
    assert (v2["visibility"], v2["size"], v2["checksum"]) == ("public", len(DATA), None)
    assert client.delete(f"/v1/images/{image['id']}").status_code == 200
    assert origin.resources["/disk.raw"].data == DATA


def test_a_bad_location_leaves_no_image(client: httpx.Client, origin: HttpOrigin) -> None:
    url = origin.put("/disk.raw", DATA)
    before = _image_count(client)
    wrong_size = _create(client, **{"x-image-meta-location": url, "x-image-meta-size": "5"})
    assert wrong_size.status_code == 409, wrong_size.text
    missing = _create(client, **{"x-image-meta-location": origin.url("/gone.raw")})
    assert missing.status_code == 404, missing.text
    refused = _create(client, **{"x-image-meta-location": "http://169.254.169.254/latest"})
    assert refused.status_code == 400 and "private address" in refused.text
    assert _image_count(client) == before


def test_copy_from_copies_into_the_default_store(client: httpx.Client, origin: HttpOrigin) -> None:
    url = origin.put("/disk.raw", DATA, stall=0.3)
    created = _create(client, **{"x-glance-api-copy-from": url})
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    assert image["status"] == "queued"
    done = _wait_for(client, image["id"], "active", "killed")
    assert done["status"] == "active", done
    assert done["checksum"] == hashlib.md5(DATA).hexdigest()
    assert done["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    [location] = done["locations"]
    assert location["url"].startswith("file://")
    assert client.get(f"/v1/images/{image['id']}").content == DATA
    del origin.resources["/disk.raw"]  # the copy is the server's own
    assert client.get(f"/v2/images/{image['id']}/file").content == DATA


def test_a_failed_copy_kills_the_image(client: httpx.Client, origin: HttpOrigin) -> None:
    url = origin.put("/disk.raw", DATA)
    cases = [
        {"x-glance-api-copy-from": origin.url("/gone.raw")},
        {"x-glance-api-copy-from": url, "x-image-meta-checksum": "0" * 32},
        {"x-glance-api-copy-from": url, "x-image-meta-size": str(len(DATA) - 1)},
        {"x-glance-api-copy-from": origin.put("/short.raw", DATA, truncate=1000)},
    ]
    for headers in cases:
        created = _create(client, **headers)
        assert created.status_code == 201, created.text
        image_id = created.json()["image"]["id"]
        done = _wait_for(client, image_id, "active", "killed")
        assert done["status"] == "killed", (headers, done)
        assert done["checksum"] is None and done["locations"] == []


def test_put_gives_a_queued_image_its_data(client: httpx.Client, origin: HttpOrigin) -> None:
    url = origin.put("/disk.raw", DATA)
    for source in ("x-image-meta-location", "x-glance-api-copy-from"):
        queued = _create(client).json()["image"]
        assert queued["status"] == "queued"
        put = client.put(f"/v1/images/{queued['id']}", headers={source: url})
        assert put.status_code == 200, put.text
        done = _wait_for(client, queued["id"], "active", "killed")
        assert (done["status"], done["size"]) == ("active", len(DATA)), source
        again = client.put(f"/v1/images/{queued['id']}", headers={source: url})
        assert again.status_code == 400 and "queued" in again.text


def test_one_data_source_at_most(client: httpx.Client, origin: HttpOrigin) -> None:
    url = origin.put("/disk.raw", DATA)
    body = client.post(
        "/v1/images",
        headers={
            **FORMATS,
            "x-glance-api-copy-from": url,
            "Content-Type": "application/octet-stream",
        },
        content=b"bytes",
    )
    assert body.status_code == 400 and "not two" in body.text


def test_copy_from_obeys_the_size_cap(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    server = server_factory(f"image_size_cap = {len(DATA) - 1}", *LOOPBACK_ALLOWED)
    url = origin.put("/disk.raw", DATA)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as capped:
        created = _create(capped, **{"x-glance-api-copy-from": url})
        assert created.status_code == 201
        done = _wait_for(capped, created.json()["image"]["id"], "active", "killed")
        assert done["status"] == "killed"
