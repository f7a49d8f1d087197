"""Adopting a database made by real upstream Glance 33, in place, and handing it back.

Upstream's ``glance-manage db_sync`` makes the schema; images (every
visibility, data in a filesystem store), members, tags and properties are
made through upstream's own API. Then ``spyglass db sync`` adopts the
database, Spyglass serves it over the same store directory, and the
``glance`` client (python-glanceclient) must read back every image's
metadata, members and bytes. Finally ``spyglass db downgrade glance`` hands it
back and upstream serves everything again, including an image Spyglass made.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import glanceclient  # type: ignore[import-untyped]
import httpx
import pytest

from tests.databases import BACKENDS, drop_database, fresh_database
from tests.integration.db.conftest import spyglass, tables
from tests.integration.db.upstream_glance import ADMIN, UpstreamGlance, create_image, project
from tests.server import LiveServer

pytestmark = pytest.mark.slow

OWNER, MEMBER, OTHER = project("p-owner"), project("p-member"), project("p-other")


def _data(seed: int, size: int) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


def _populate(upstream: UpstreamGlance) -> dict[str, bytes | None]:
    """Images of every kind through upstream's API; their ids -> the bytes each holds."""
    images: dict[str, bytes | None] = {}

    def add(headers: dict[str, str], body: dict[str, Any], data: bytes | None) -> str:
        image_id = create_image(upstream, headers, body, data)
        images[image_id] = data
        return image_id

    raw = {"disk_format": "raw", "container_format": "bare"}
    add(ADMIN, {**raw, "name": "public", "visibility": "public", "tags": ["a", "b"],
                "os_distro": "cirros", "hw_disk_bus": "virtio", "min_disk": 1, "min_ram": 64},
        _data(1, 1024 * 1024 + 7))  # fmt: skip
    add(OWNER, {**raw, "name": "private", "visibility": "private", "protected": True,
                "note": "unicode é ü ✓"}, _data(2, 4096))  # fmt: skip
    shared = add(OWNER, {**raw, "name": "shared", "visibility": "shared"}, _data(3, 300_000))
    add(OWNER, {**raw, "name": "community", "visibility": "community", "os_hidden": True},
        _data(4, 10))  # fmt: skip
    add(OWNER, {"name": "queued", "tags": ["empty"]}, None)
    deactivated = add(OWNER, {**raw, "name": "deactivated", "visibility": "private"}, _data(5, 5))
    gone = create_image(upstream, OWNER, {**raw, "name": "deleted"}, _data(6, 6))
    with upstream.client(OWNER) as owner:
        for member in (MEMBER, OTHER):
            added = owner.post(f"/v2/images/{shared}/members",
                               json={"member": member["X-Project-Id"]})  # fmt: skip
            assert added.status_code == 200, added.text
        tagged = owner.put(f"/v2/images/{shared}/tags/late")
        assert tagged.status_code == 204, tagged.text
        patched = owner.patch(
            f"/v2/images/{shared}",
            json=[{"op": "add", "path": "/extra", "value": "x"}],
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
        )
        assert patched.status_code == 200, patched.text
        assert owner.delete(f"/v2/images/{gone}").status_code == 204
    with upstream.client(MEMBER) as member_client:
        accepted = member_client.put(
            f"/v2/images/{shared}/members/p-member", json={"status": "accepted"}
        )
        assert accepted.status_code == 200, accepted.text
    with upstream.client(ADMIN) as admin:
        posted = admin.post(f"/v2/images/{deactivated}/actions/deactivate")
        assert posted.status_code == 204, posted.text
    images["deleted"] = None  # checked apart: it stays deleted
    images[gone] = None
    return images


def _upstream_view(upstream: UpstreamGlance, images: dict[str, bytes | None]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with upstream.client(ADMIN) as admin:
        for image_id in images:
            shown = admin.get(f"/v2/images/{image_id}")
            if shown.status_code == 404:
                continue
            members = admin.get(f"/v2/images/{image_id}/members")
            found[image_id] = {
                "image": shown.json(),
                "members": members.json()["members"] if members.status_code == 200 else [],
            }
    return found


NOT_COMPARED = {"self", "file", "schema", "stores"}
"""Links (same paths, checked apart) and ``stores`` (Spyglass lists it only for data it has)."""


def _compare_through_the_glance_client(
    url: str, images: dict[str, bytes | None], before: dict[str, Any]
) -> None:
    client = glanceclient.Client(endpoint=f"{url}/v2", token="none")
    for image_id, expected in before.items():
        shown = dict(client.images.get(image_id))
        upstream_image = expected["image"]
        for key, value in upstream_image.items():
            if key in NOT_COMPARED:
                continue
            got = shown.get(key)
            if key == "tags":
                got, value = sorted(got or []), sorted(value)
            assert got == value, (upstream_image["name"], key, got, value)
        assert shown["file"] == upstream_image["file"]
        listed = client.image_members.list(image_id) if shown["visibility"] == "shared" else []
        members = sorted((m["member_id"], m["status"]) for m in listed)
        assert members == sorted((m["member_id"], m["status"]) for m in expected["members"])
        data = images[image_id]
        if data is not None and upstream_image["status"] == "active":
            assert b"".join(client.images.data(image_id)) == data, upstream_image["name"]


def _serve_spyglass(tmp_path: Path, url: str, store: Path) -> LiveServer:
    return LiveServer(
        tmp_path / "spyglass",
        [
            "enabled_backends = fs:file",
            "[glance_store]",
            "default_backend = fs",
            "[fs]",
            f"filesystem_store_datadir = {store}",
            "[database]",
            f"connection = {url}",
        ],
    ).start()


def _db_command(url: str, tmp_path: Path, *args: str) -> str:
    config = tmp_path / "spyglass-db.conf"
    config.write_text(f"[database]\nconnection = {url}\n")
    result = spyglass("db", *args, "--config-file", str(config))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    url, name = await fresh_database(request.param, tmp_path)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'glance.sqlite'}"
    try:
        yield url
    finally:
        await drop_database(request.param, name)


@pytest.fixture
def upstream(tmp_path: Path, database_url: str) -> Iterator[UpstreamGlance]:
    glance = UpstreamGlance(tmp_path / "bench", database_url)
    yield glance
    glance.stop()


def test_an_upstream_database_is_adopted_and_handed_back(
    upstream: UpstreamGlance, database_url: str, tmp_path: Path
) -> None:
    upstream.start()
    images = _populate(upstream)
    before = _upstream_view(upstream, images)
    assert len(before) == 6
    upstream.stop()
    upstream_tables = asyncio.run(tables(database_url))

    check = spyglass("db", "check", "--config-file", str(_config(tmp_path, database_url)))
    assert check.returncode == 3
    assert "not adopted yet" in check.stdout
    assert "adopted from upstream Glance's 2024_1_contract01" in _db_command(
        database_url, tmp_path, "sync"
    )

    server = _serve_spyglass(tmp_path, database_url, upstream.store_dir)
    try:
        _compare_through_the_glance_client(server.url, images, before)
        with httpx.Client(base_url=server.url, trust_env=False, timeout=30) as http:
            gone = [i for i in images if i not in before and i != "deleted"]
            assert http.get(f"/v2/images/{gone[0]}").status_code == 404
            listed = http.get("/v2/images", params={"limit": 100}).json()["images"]
            assert {i["name"] for i in listed} == {
                "public",
                "private",
                "shared",
                "queued",
                "deactivated",
            }  # fmt: skip  (community is os_hidden)
            made = http.post(
                "/v2/images",
                json={"name": "by-spyglass", "disk_format": "raw", "container_format": "bare"},
            ).json()["id"]
            body = _data(7, 70_000)
            uploaded = http.put(
                f"/v2/images/{made}/file",
                content=body,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert uploaded.status_code == 204, uploaded.text
        _cli_lists_the_images(server.url)
    finally:
        server.stop()

    _db_command(database_url, tmp_path, "downgrade", "glance")
    assert asyncio.run(tables(database_url)) == upstream_tables
    upstream.start(keep=True)
    with upstream.client(ADMIN) as admin:
        shown = admin.get(f"/v2/images/{made}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["status"] == "active"
        assert admin.get(f"/v2/images/{made}/file").content == body
        for image_id, expected in before.items():
            again = admin.get(f"/v2/images/{image_id}").json()
            assert again["name"] == expected["image"]["name"]
            assert sorted(again["tags"]) == sorted(expected["image"]["tags"])


def _config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "spyglass-db.conf"
    config.write_text(f"[database]\nconnection = {url}\n")
    return config


def _cli_lists_the_images(url: str) -> None:
    """The ``glance`` command itself, as an operator would run it."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "glance"), "--os-image-url", url,
         "--os-auth-token", "none", "image-list"],
        capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("OS_")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("public", "private", "shared", "queued", "deactivated", "by-spyglass"):
        assert name in result.stdout
