"""Images on Ceph RBD end to end: a live server whose default store is the real Ceph,
driven over HTTP and by python-glanceclient's ``glance``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.stores.ceph_backend import USER, Ceph, ceph, foreign_pool
from tests.integration.stores.glance_round_trip import digests, glance_round_trip
from tests.memory import MIB, assert_memory_is_flat
from tests.server import LiveServer, pattern_stream

__all__ = ["ceph", "foreign_pool"]  # fixtures
SIZE = 64 * MIB
CHUNK_MIB = 8


def _options(ceph: Ceph) -> list[str]:
    """Classic single-store options, as a seed-era glance-api.conf has them."""
    return [
        "[glance_store]",
        "default_store = rbd",
        "stores = rbd",
        f"rbd_store_pool = {ceph.pool}",
        f"rbd_store_user = {USER}",
        f"rbd_store_ceph_conf = {ceph.conffile}",
        f"rbd_store_chunk_size = {CHUNK_MIB}",
        "rados_connect_timeout = 10",
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ceph: Ceph) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("rbd-e2e"), _options(ceph)).start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=300, trust_env=False) as http:
        yield http


def _upload(client: httpx.Client, size: int) -> str:
    image_id = client.post(
        "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
    ).json()["id"]
    response = client.put(
        f"/v2/images/{image_id}/file",
        content=pattern_stream(size),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 204, response.text
    return str(image_id)


def test_64_mib_over_the_api(client: httpx.Client, ceph: Ceph) -> None:
    image_id = _upload(client, SIZE)
    shown = client.get(f"/v2/images/{image_id}").json()
    md5, sha512 = digests(pattern_stream(SIZE))
    assert (shown["status"], shown["size"]) == ("active", SIZE)
    assert (shown["checksum"], shown["os_hash_value"]) == (md5, sha512)
    with client.stream("GET", f"/v2/images/{image_id}/file") as download:
        assert download.status_code == 200
        assert digests(download.iter_raw()) == (md5, sha512)
    start = CHUNK_MIB * MIB - 10  # across an object boundary
    ranged = client.get(f"/v2/images/{image_id}/file", headers={"Range": f"bytes={start}-"})
    assert ranged.status_code == 206
    assert ranged.content == b"".join(pattern_stream(SIZE))[start:]
    assert [n for n in ceph.images() if n.startswith(image_id)] == [image_id, f"{image_id}@snap"]
    assert client.delete(f"/v2/images/{image_id}").status_code == 204
    assert [n for n in ceph.images() if n.startswith(image_id)] == []


def test_delete_is_refused_while_a_clone_exists(client: httpx.Client, ceph: Ceph) -> None:
    """Nova and Cinder clone the snapshot; deleting the image then answers 409 and
    leaves image and data as they were, until the clone is gone."""
    image_id = _upload(client, 3 * MIB)
    clone = f"volume-{uuid.uuid4()}"
    ceph.clone(image_id, clone)
    try:
        refused = client.delete(f"/v2/images/{image_id}", headers={"Accept": "application/json"})
        assert refused.status_code == 409, refused.text
        assert "in use" in refused.json()["message"]
        assert client.get(f"/v2/images/{image_id}").json()["status"] == "active"
        data = client.get(f"/v2/images/{image_id}/file")
        assert data.status_code == 200
        assert data.content == b"".join(pattern_stream(3 * MIB))
    finally:
        ceph.remove(clone)
    assert client.delete(f"/v2/images/{image_id}").status_code == 204
    assert client.get(f"/v2/images/{image_id}").status_code == 404
    assert [n for n in ceph.images() if n.startswith(image_id)] == []


def test_a_location_in_another_pool_is_refused(
    tmp_path: Path, ceph: Ceph, foreign_pool: str
) -> None:
    """An owner who may set locations (``show_multiple_locations``) cannot point an image
    at an RBD image of another pool, to read it or to delete it with their image."""
    victim = f"volume-{uuid.uuid4()}"
    url = ceph.make_image(foreign_pool, victim, b"someone else's volume")
    server = LiveServer(tmp_path, ["show_multiple_locations = True", *_options(ceph)]).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as http:
            image_id = http.post(
                "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
            ).json()["id"]
            refused = http.patch(
                f"/v2/images/{image_id}",
                json=[{"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}],
                headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
            )
            assert refused.status_code == 400, refused.text
            assert "outside store" in refused.text
            assert http.get(f"/v2/images/{image_id}").json()["status"] == "queued"
            assert http.delete(f"/v2/images/{image_id}").status_code == 204
    finally:
        server.stop()
    assert ceph.images(foreign_pool) == [victim, f"{victim}@snap"]


def test_64_mib_with_the_glance_client(
    server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    glance_round_trip(server, client, tmp_path, SIZE, "rbd-e2e")


@pytest.mark.slow
def test_peak_rss_stays_under_150_mib_on_rbd(tmp_path: Path, ceph: Ceph) -> None:
    """With librados and librbd loaded and connected the server rests some 20 MiB above
    the filesystem store's; what a transfer adds on top stays small and does not grow
    with the image (zero-copy writes, a few MiB in flight, malloc tuned for librados'
    threads: ``stores/rbd_malloc.py``). A server of its own, as the filesystem store's
    memory test has: the module's has served the other tests' uploads."""
    server = LiveServer(tmp_path, _options(ceph)).start()
    try:
        assert_memory_is_flat(server, small=16 * MIB, large=256 * MIB)
    finally:
        server.stop()
