"""``validation_data`` on new locations is checked against the data, never just believed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.functional.helpers import create, patch
from tests.functional.test_http_locations import LOOPBACK_ALLOWED
from tests.http_origin import HttpOrigin
from tests.server import LiveServer

DATA = b"the bytes behind the location " * 10_000


def _true() -> dict[str, str]:
    return {
        "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(DATA).hexdigest(),
        "checksum": hashlib.md5(DATA).hexdigest(),
    }


def _lie() -> dict[str, str]:
    return {**_true(), "os_hash_value": hashlib.sha512(b"other").hexdigest()}


def _by_patch(client: httpx.Client, image_id: str, url: str, data: Any) -> httpx.Response:
    value = {"url": url, "metadata": {}, "validation_data": data}
    return patch(client, image_id, [{"op": "add", "path": "/locations/-", "value": value}])


def _by_post(client: httpx.Client, image_id: str, url: str, data: Any) -> httpx.Response:
    return client.post(
        f"/v2/images/{image_id}/locations", json={"url": url, "validation_data": data}
    )


@pytest.mark.parametrize("add", [_by_patch, _by_post], ids=["patch", "v2.17"])
def test_true_hashes_are_taken_and_false_ones_refused(
    server_factory: Callable[..., LiveServer],
    origin: HttpOrigin,
    add: Callable[[httpx.Client, str, str, Any], httpx.Response],
) -> None:
    server = server_factory(*LOOPBACK_ALLOWED)
    url = origin.put("/disk.raw", DATA)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        lied = create(client, disk_format="raw", container_format="bare")
        refused = add(client, lied["id"], url, _lie())
        assert refused.status_code == 400, refused.text
        shown = client.get(f"/v2/images/{lied['id']}").json()
        assert (shown["status"], shown["os_hash_value"]) == ("queued", None)

        honest = create(client, disk_format="raw", container_format="bare")
        assert add(client, honest["id"], url, _true()).status_code in (200, 202)
        shown = client.get(f"/v2/images/{honest['id']}").json()
        assert shown["status"] == "active"
        assert (shown["checksum"], shown["os_hash_value"]) == (
            _true()["checksum"],
            _true()["os_hash_value"],
        )


MALFORMED = [
    {"os_hash_algo": "sha512"},
    {"os_hash_algo": "nope", "os_hash_value": "ab"},
    {"os_hash_algo": "sha512", "os_hash_value": "ab"},
    {**_true(), "checksum": "xyz"},
    {**_true(), "extra": "field"},
]


def test_malformed_validation_data_is_400(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    server = server_factory(*LOOPBACK_ALLOWED)
    url = origin.put("/disk.raw", DATA)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        image = create(client, disk_format="raw", container_format="bare")
        for data in MALFORMED:
            assert _by_post(client, image["id"], url, data).status_code == 400, data
        assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
