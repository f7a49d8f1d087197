"""Real disks that fill up or turn read-only under a running server: the filesystem store,
the image cache and the import staging area each on a small tmpfs of the test's own.

What a client sees (upstream's 413 "Image storage media is full", a 503 with
``Retry-After`` for a read-only store), that the image goes back to ``queued``, that no
partial file is left, and that the server recovers by itself once space is freed or the
filesystem is writable again, without a restart.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import OCTET, create
from tests.server import LiveServer, pattern_stream
from tests.tmpfs import free_bytes, remount, tmpfs

pytestmark = pytest.mark.backends("sqlite")  # the byte path; metadata is not what is tested

MIB = 1024 * 1024
JSON = {**OCTET, "Accept": "application/json"}


def _data(size: int) -> bytes:
    return b"".join(pattern_stream(size))


def _status(client: httpx.Client, image_id: str) -> str:
    status: str = client.get(f"/v2/images/{image_id}").json()["status"]
    return status


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


@contextlib.contextmanager
def _serve(where: Path, *lines: str) -> Iterator[tuple[LiveServer, httpx.Client]]:
    """A server and a client for it; the server stops before its tmpfs is unmounted."""
    server = LiveServer(where, lines).start(timeout=90)  # a loaded CI host starts slowly
    try:
        with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
            yield server, client
    finally:
        server.stop()


@contextlib.contextmanager
def _store_on_tmpfs(tmp_path: Path) -> Iterator[tuple[Path, LiveServer, httpx.Client]]:
    """A server whose filesystem store is an 8 MiB tmpfs."""
    with tmpfs(tmp_path / "images", "8m") as images:
        lines = ("[glance_store]", f"filesystem_store_datadir = {images}")
        with _serve(tmp_path / "server", *lines) as (server, client):
            yield images, server, client


def _stored(client: httpx.Client, size: int) -> str:
    """A new image holding ``size`` bytes."""
    image_id: str = create(client, disk_format="raw", container_format="bare")["id"]
    put = client.put(f"/v2/images/{image_id}/file", content=_data(size), headers=OCTET)
    assert put.status_code == 204, put.text
    return image_id


def test_a_full_store_answers_413_leaves_nothing_and_recovers_when_space_is_freed(
    tmp_path: Path,
) -> None:
    with _store_on_tmpfs(tmp_path) as (images, server, client):
        filler = _stored(client, 5 * MIB)
        free = free_bytes(images)

        image_id = create(client, disk_format="raw", container_format="bare")["id"]
        for body in (_data(6 * MIB), pattern_stream(6 * MIB)):  # sized, then chunked
            full = client.put(f"/v2/images/{image_id}/file", content=body, headers=JSON)
            assert full.status_code == 413, full.text
            assert full.json()["message"].startswith("Image storage media is full: ")
            assert str(images) not in full.text
            assert _status(client, image_id) == "queued"
            assert _files(images) == [filler]  # no partial file
            assert free_bytes(images) == free

        assert client.delete(f"/v2/images/{filler}").status_code == 204
        again = client.put(f"/v2/images/{image_id}/file", content=_data(6 * MIB), headers=OCTET)
        assert again.status_code == 204, again.text
        assert client.get(f"/v2/images/{image_id}/file").content == _data(6 * MIB)
        assert _files(images) == [image_id]
        assert "Traceback" not in server.log.read_text()


def test_a_read_only_store_answers_503_serves_downloads_and_recovers(
    tmp_path: Path,
) -> None:
    with _store_on_tmpfs(tmp_path) as (images, server, client):
        stored = _stored(client, 2 * MIB)
        image_id = create(client, disk_format="raw", container_format="bare")["id"]

        remount(images, read_only=True)
        try:
            refused = client.put(f"/v2/images/{image_id}/file", content=_data(MIB), headers=JSON)
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"] == "30"
            assert "read-only" in refused.json()["message"]
            assert str(images) not in refused.text
            assert _status(client, image_id) == "queued"
            assert client.get(f"/v2/images/{stored}/file").content == _data(2 * MIB)
            assert _files(images) == [stored]
        finally:
            remount(images, read_only=False)

        again = client.put(f"/v2/images/{image_id}/file", content=_data(MIB), headers=OCTET)
        assert again.status_code == 204, again.text
        assert client.get(f"/v2/images/{image_id}/file").content == _data(MIB)
        assert "Traceback" not in server.log.read_text()


def test_a_full_cache_disk_still_serves_the_image_and_keeps_no_half_entry(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "cache", "8m") as cache:
        lines = (f"image_cache_dir = {cache}", "[paste_deploy]", "flavor = cachemanagement")
        with _serve(tmp_path / "server", *lines) as (server, client):
            big = _stored(client, 12 * MIB)
            for _ in range(2):  # each miss tries to fill, runs out of room, and gives up
                assert client.get(f"/v2/images/{big}/file").content == _data(12 * MIB)
                _wait_until(lambda: big not in " ".join(_files(cache)))
            assert client.get("/v2/cache").json()["cached_images"] == []
            assert f"cannot fill {big}: No space left on device" in server.log.read_text()

            small = _stored(client, MIB)
            assert client.get(f"/v2/images/{small}/file").content == _data(MIB)
            _wait_until(lambda: (cache / small).exists())  # the cache still works


def test_a_full_staging_area_answers_413_and_a_smaller_stage_imports(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "staging", "8m") as staging:
        lines = (f"node_staging_uri = file://{staging}", "enabled_import_methods = glance-direct")
        with _serve(tmp_path / "server", *lines) as (server, client):
            image_id = create(client, disk_format="raw", container_format="bare")["id"]
            full = client.put(f"/v2/images/{image_id}/stage", content=_data(12 * MIB), headers=JSON)
            assert full.status_code == 413, full.text
            assert full.json()["message"].startswith("Image storage media is full: ")
            assert _status(client, image_id) == "queued"
            assert _files(staging) == []
            assert "Traceback" not in server.log.read_text()

            staged = client.put(
                f"/v2/images/{image_id}/stage", content=_data(3 * MIB), headers=OCTET
            )
            assert staged.status_code == 204, staged.text
            imported = client.post(
                f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}}
            )
            assert imported.status_code == 202, imported.text
            _wait_until(lambda: _status(client, image_id) == "active")
            assert client.get(f"/v2/images/{image_id}/file").content == _data(3 * MIB)
            _wait_until(lambda: _files(staging) == [])


def _wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
