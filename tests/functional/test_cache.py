"""The transparent image cache on a real server with real files.

Each test starts its own server with ``image_cache_dir`` and a caching flavor,
uploads images through the API and then looks at what the cache did, both
through ``/v2/cache`` and in the cache directory itself.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import DATA_PATH
from tests.functional.helpers import create, upload
from tests.server import LiveServer

pytestmark = pytest.mark.backends(*DATA_PATH)

ServerFactory = Callable[..., LiveServer]


def cache_dir(server: LiveServer) -> Path:
    return server.data_dir / "cache"


@pytest.fixture
def cached_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers whose cache directory is ``<data dir>/cache``."""
    started: list[LiveServer] = []

    def make(*lines: str, flavor: str = "cachemanagement") -> LiveServer:
        data_dir = tmp_path / f"server{len(started)}"
        config = [f"image_cache_dir = {data_dir / 'cache'}", *lines]
        config += ["[paste_deploy]", f"flavor = {flavor}"]
        server = LiveServer(data_dir, config).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def http(server: LiveServer, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60, trust_env=False, headers=headers)


def new_image(client: httpx.Client, data: bytes, **body: Any) -> str:
    image = create(client, name="cached", disk_format="raw", container_format="bare", **body)
    assert upload(client, image["id"], data).status_code == 204
    return str(image["id"])


def entries(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/v2/cache")
    assert response.status_code == 200, response.text
    return {e["image_id"]: e for e in response.json()["cached_images"]}


def wait_cached(client: httpx.Client, image_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = entries(client).get(image_id)
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"image {image_id} was never cached")


def store_file(server: LiveServer, image_id: str) -> Path:
    return server.data_dir / "images" / image_id


def fills(server: LiveServer, image_id: str) -> int:
    return server.log.read_text().count(f"image cache: filling {image_id} from the store")


def payload(size: int) -> bytes:
    return os.urandom(size)


@pytest.mark.parametrize("driver", ["sqlite", "centralized_db"])
def test_miss_then_hit_with_each_driver(
    cached_server: Callable[..., LiveServer], driver: str
) -> None:
    server = cached_server(
        f"image_cache_driver = {driver}", "worker_self_reference_url = http://node-a:9292"
    )
    data = payload(3 * 1024 * 1024 + 11)
    with http(server) as client:
        image_id = new_image(client, data)
        assert entries(client) == {}
        miss = client.get(f"/v2/images/{image_id}/file")
        assert miss.status_code == 200 and miss.content == data
        assert miss.headers["content-md5"] == hashlib.md5(data).hexdigest()
        entry = wait_cached(client, image_id)
        assert entry["size"] == len(data) and entry["hits"] == 0
        assert (cache_dir(server) / image_id).read_bytes() == data

        hit = client.get(f"/v2/images/{image_id}/file")
        assert hit.status_code == 200 and hit.content == data
        part = client.get(f"/v2/images/{image_id}/file", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
        time.sleep(0.2)
        entry = entries(client)[image_id]
        assert entry["hits"] == 2 and entry["last_accessed"] > 0
    assert fills(server, image_id) == 1
    if driver == "sqlite":
        assert (cache_dir(server) / "cache.db").exists()
    else:
        assert not (cache_dir(server) / "cache.db").exists()


def test_a_hit_needs_no_store(cached_server: Callable[..., LiveServer]) -> None:
    server = cached_server()
    data = payload(1024 * 1024)
    with http(server) as client:
        image_id = new_image(client, data)
        assert client.get(f"/v2/images/{image_id}/file").content == data
        wait_cached(client, image_id)
        hidden = store_file(server, image_id).rename(server.data_dir / "elsewhere")
        hit = client.get(f"/v2/images/{image_id}/file")
        assert hit.status_code == 200 and hit.content == data
        assert client.delete(f"/v2/cache/{image_id}").status_code == 204
        assert client.get(f"/v2/images/{image_id}/file").status_code == 503
        hidden.rename(store_file(server, image_id))


def test_a_corrupted_cache_file_is_never_served(cached_server: Callable[..., LiveServer]) -> None:
    server = cached_server()
    data = payload(2 * 1024 * 1024)
    with http(server) as client:
        image_id = new_image(client, data)
        client.get(f"/v2/images/{image_id}/file")
        wait_cached(client, image_id)
        time.sleep(0.05)
        cached = cache_dir(server) / image_id
        with cached.open("r+b") as f:  # same size, one byte different
            f.seek(12345)
            f.write(bytes([data[12345] ^ 0xFF]))
        again = client.get(f"/v2/images/{image_id}/file")
        assert again.status_code == 200 and again.content == data  # fetched from the store
        assert fills(server, image_id) == 2
        wait_cached(client, image_id)
        assert cached.read_bytes() == data
    assert "a file changed after it was cached; invalidated" in server.log.read_text()


def test_verified_hits_check_the_checksum(cached_server: Callable[..., LiveServer]) -> None:
    server = cached_server("image_cache_verify_hits = true")
    data = payload(2 * 1024 * 1024 + 3)
    with http(server) as client:
        image_id = new_image(client, data)
        client.get(f"/v2/images/{image_id}/file")
        wait_cached(client, image_id)
        hit = client.get(f"/v2/images/{image_id}/file")
        assert hit.status_code == 200 and hit.content == data


def test_bit_rot_is_caught_by_the_checksum_and_never_completes(
    cached_server: Callable[..., LiveServer],
) -> None:
    """Corruption the file's ctime cannot reveal: the verified hit aborts before the end."""
    server = cached_server("image_cache_verify_hits = true")
    data = payload(6 * 1024 * 1024)
    with http(server) as client:
        image_id = new_image(client, data)
        client.get(f"/v2/images/{image_id}/file")
        wait_cached(client, image_id)
        cached = cache_dir(server) / image_id
        with cached.open("r+b") as f:
            f.seek(4 * 1024 * 1024 + 17)
            f.write(bytes([data[4 * 1024 * 1024 + 17] ^ 0xFF]))
        with sqlite3.connect(cache_dir(server) / "cache.db") as index:  # as if unnoticed
            index.execute("UPDATE cached_images SET last_modified = last_modified + 3600")
        received = bytearray()

        def download() -> None:
            with client.stream("GET", f"/v2/images/{image_id}/file") as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes():
                    received.extend(chunk)

        with pytest.raises(httpx.HTTPError):
            download()
        assert len(received) < len(data)
        again = client.get(f"/v2/images/{image_id}/file")
        assert again.status_code == 200 and again.content == data
        wait_cached(client, image_id)
        assert cached.read_bytes() == data
    assert "does not match its checksum; aborting the response" in server.log.read_text()


def test_data_the_store_corrupted_is_not_cached(cached_server: Callable[..., LiveServer]) -> None:
    server = cached_server()
    data = payload(1024 * 1024)
    with http(server) as client:
        image_id = new_image(client, data)
        bad = bytearray(data)
        bad[7] ^= 1
        store_file(server, image_id).write_bytes(bytes(bad))
        assert client.get(f"/v2/images/{image_id}/file").content == bytes(bad)
        deadline = time.monotonic() + 10
        while not (cache_dir(server) / "invalid" / image_id).exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert entries(client) == {}
        assert not (cache_dir(server) / image_id).exists()


def test_early_disconnect_on_a_miss_leaves_no_half_entry(
    cached_server: Callable[..., LiveServer],
) -> None:
    server = cached_server()
    data = payload(48 * 1024 * 1024)
    with http(server) as client:
        image_id = new_image(client, data)
        with client.stream("GET", f"/v2/images/{image_id}/file") as response:
            assert response.status_code == 200
            next(response.iter_raw(64 * 1024))
        # Whatever the fill did meanwhile, nothing partial is left to be served.
        deadline = time.monotonic() + 20
        while os.listdir(cache_dir(server) / "incomplete"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cached = cache_dir(server) / image_id
        assert not cached.exists() or cached.read_bytes() == data
        assert set(entries(client)) <= {image_id}
        full = client.get(f"/v2/images/{image_id}/file")
        assert full.status_code == 200 and full.content == data


def test_concurrent_misses_fill_once(cached_server: Callable[..., LiveServer]) -> None:
    server = cached_server()
    data = payload(16 * 1024 * 1024)
    with http(server) as client:
        image_id = new_image(client, data)
    results: list[bytes] = []
    barrier = threading.Barrier(4)

    def download() -> None:
        with http(server) as own:
            barrier.wait()
            results.append(own.get(f"/v2/images/{image_id}/file").content)

    threads = [threading.Thread(target=download) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [data] * 4
    with http(server) as client:
        wait_cached(client, image_id)
    assert fills(server, image_id) == 1


def test_deleting_an_image_evicts_it(cached_server: Callable[..., LiveServer]) -> None:
    server = cached_server()
    data = payload(100_000)
    with http(server) as client:
        image_id = new_image(client, data)
        client.get(f"/v2/images/{image_id}/file")
        wait_cached(client, image_id)
        assert client.delete(f"/v2/images/{image_id}").status_code == 204
        assert entries(client) == {}
        assert not (cache_dir(server) / image_id).exists()
        assert client.get(f"/v2/images/{image_id}/file").status_code == 404


TRUSTED = "trusted-auth+cachemanagement"


def identity(project: str, roles: str) -> dict[str, str]:
    return {
        "X-Identity-Status": "Confirmed",
        "X-Project-Id": project,
        "X-User-Id": f"user-{project}",
        "X-Roles": roles,
    }


ADMIN = identity("admin-project", "admin,member,reader")
OWNER = identity("p1", "member,reader")
OTHER = identity("p2", "member,reader")


def test_deactivated_images_are_not_served_from_the_cache(
    cached_server: Callable[..., LiveServer],
) -> None:
    server = cached_server(flavor=TRUSTED)
    data = payload(200_000)
    with http(server, **OWNER) as owner, http(server, **ADMIN) as admin:
        image_id = new_image(owner, data)
        assert owner.get(f"/v2/images/{image_id}/file").content == data
        wait_cached(admin, image_id)
        assert owner.post(f"/v2/images/{image_id}/actions/deactivate").status_code == 204
        assert owner.get(f"/v2/images/{image_id}/file").status_code == 403
        store_file(server, image_id).rename(server.data_dir / "elsewhere")
        # An admin may still download it, but from the store, never from the cache.
        assert admin.get(f"/v2/images/{image_id}/file").status_code == 503
        time.sleep(0.3)
        assert entries(admin)[image_id]["hits"] == 0


def test_a_member_who_loses_access_gets_404_though_cached(
    cached_server: Callable[..., LiveServer],
) -> None:
    server = cached_server(flavor=TRUSTED)
    data = payload(300_000)
    with (
        http(server, **OWNER) as owner,
        http(server, **OTHER) as member,
        http(server, **ADMIN) as admin,
    ):
        image_id = new_image(owner, data, visibility="shared")
        assert owner.post(f"/v2/images/{image_id}/members", json={"member": "p2"}).is_success
        accepted = member.put(f"/v2/images/{image_id}/members/p2", json={"status": "accepted"})
        assert accepted.status_code == 200, accepted.text
        assert member.get(f"/v2/images/{image_id}/file").content == data
        wait_cached(admin, image_id)
        assert member.get(f"/v2/images/{image_id}/file").content == data  # a hit
        assert owner.delete(f"/v2/images/{image_id}/members/p2").status_code == 204
        assert member.get(f"/v2/images/{image_id}/file").status_code == 404
        time.sleep(0.3)  # hits are counted in the background
        assert entries(admin)[image_id]["hits"] == 1


def test_management_is_for_admins_and_names_the_node(
    cached_server: Callable[..., LiveServer],
) -> None:
    server = cached_server("worker_self_reference_url = http://node-a:9292", flavor=TRUSTED)
    data = payload(10_000)
    with http(server, **OWNER) as owner, http(server, **ADMIN) as admin:
        image_id = new_image(owner, data)
        for method, path in [
            ("GET", "/v2/cache"),
            ("PUT", f"/v2/cache/{image_id}"),
            ("DELETE", f"/v2/cache/{image_id}"),
            ("DELETE", "/v2/cache"),
            ("POST", "/v2/cache/prune"),
            ("POST", "/v2/cache/clean"),
            ("GET", "/v1/cached_images"),
            ("GET", "/v1/queued_images"),
            ("PUT", f"/v1/queued_images/{image_id}"),
        ]:
            assert owner.request(method, path).status_code == 403, (method, path)
        listed = admin.get("/v2/cache")
        assert listed.status_code == 200
        assert listed.headers["x-image-cache-node"] == "http://node-a:9292"
        assert admin.get("/v2/cache/nodes/" + image_id).status_code == 409  # sqlite driver


def test_queue_then_prefetch(cached_server: Callable[..., LiveServer]) -> None:
    server = cached_server()
    data = payload(500_000)
    with http(server) as client:
        image_id = new_image(client, data)
        queued = new_image(client, data[::-1])
        # Upstream's 2.16: PUT queues and caches at once.
        assert client.put(f"/v2/cache/{image_id}").status_code == 202
        wait_cached(client, image_id)
        # The seed era's route only queues; the prefetcher fetches later.
        assert client.put(f"/v1/queued_images/{queued}").status_code == 200
        assert client.get("/v1/queued_images").json() == {"queued_images": [queued]}
        assert client.get("/v2/cache").json()["queued_images"] == [queued]
        assert (cache_dir(server) / "queue" / queued).exists()
        assert client.delete(f"/v1/queued_images/{queued}").status_code == 200
        assert client.get("/v1/queued_images").json() == {"queued_images": []}
        assert client.put("/v2/cache/no-such-image").status_code == 404


def test_prefetcher_runs_periodically_when_asked(
    cached_server: Callable[..., LiveServer],
) -> None:
    server = cached_server("cache_prefetcher_interval = 0.2")
    data = payload(100_000)
    with http(server) as client:
        image_id = new_image(client, data)
        assert client.put(f"/v1/queued_images/{image_id}").status_code == 200
        wait_cached(client, image_id)
        assert client.get("/v2/cache").json()["queued_images"] == []


def test_clear_delete_prune_and_clean(cached_server: Callable[..., LiveServer]) -> None:
    server = cached_server("image_cache_max_size = 250000")
    with http(server) as client:
        ids = [new_image(client, payload(100_000)) for _ in range(3)]
        for image_id in ids:
            client.get(f"/v2/images/{image_id}/file")
            wait_cached(client, image_id)
            time.sleep(0.02)
        client.get(f"/v2/images/{ids[0]}/file")  # the oldest is now the most recently used
        time.sleep(0.2)
        pruned = client.post("/v2/cache/prune")
        assert pruned.json() == {"total_files_pruned": 1, "total_bytes_pruned": 100_000}
        assert set(entries(client)) == {ids[0], ids[2]}

        (cache_dir(server) / "invalid" / "junk").write_bytes(b"x")
        (cache_dir(server) / "incomplete" / ids[1]).write_bytes(b"half")
        cleaned = client.post("/v2/cache/clean").json()
        assert cleaned["invalid_files_removed"] == 1
        assert cleaned["incomplete_files_removed"] == 1

        assert client.delete(f"/v2/cache/{ids[2]}").status_code == 204
        assert client.delete(f"/v2/cache/{ids[2]}").status_code == 204  # an image, not cached
        assert client.delete("/v2/cache/no-such-image").status_code == 404
        assert set(entries(client)) == {ids[0]}
        client.put(f"/v1/queued_images/{ids[1]}")
        bad = client.delete("/v2/cache", headers={"x-image-cache-clear-target": "all"})
        assert bad.status_code == 400
        cleared = client.delete("/v2/cache", headers={"x-image-cache-clear-target": "queue"})
        assert cleared.status_code == 204
        assert client.get("/v2/cache").json() == {
            "cached_images": [entries(client)[ids[0]]],
            "queued_images": [],
        }
        assert client.delete("/v2/cache").status_code == 204
        assert client.get("/v2/cache").json() == {"cached_images": [], "queued_images": []}
        left = {p.name for p in cache_dir(server).iterdir() if p.is_file()}
        assert {name for name in left if not name.startswith("cache.db")} == set()


def test_start_up_removes_what_a_crash_left(
    cached_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "server0"
    cache = data_dir / "cache"
    for name in ("incomplete", "invalid", "queue"):
        (cache / name).mkdir(parents=True)
    (cache / "incomplete" / "half-written").write_bytes(b"x" * 1000)
    (cache / "invalid" / "bad").write_bytes(b"x")
    orphan = cache / "11111111-2222-4333-8444-555555555555"
    orphan.write_bytes(b"y")
    os.utime(orphan, (1, 1))
    server = cached_server()
    with http(server) as client:
        assert entries(client) == {}
    assert os.listdir(cache / "incomplete") == []
    assert os.listdir(cache / "invalid") == []
    # The orphan's ctime is new (it was just written), so it waits for a later clean.
    assert orphan.exists()


def test_cache_versions_only_with_a_cache_dir(
    cached_server: Callable[..., LiveServer], server_factory: ServerFactory
) -> None:
    with http(cached_server()) as client:
        listed = [v["id"] for v in client.get("/versions").json()["versions"]]
        assert {"v2.14", "v2.16", "v2.18"} <= set(listed)
        assert client.get("/versions").json()["versions"][0] == {
            "id": "v2.18",
            "status": "CURRENT",
            "links": [{"rel": "self", "href": f"{client.base_url}/v2/"}],
        }
        assert client.get("/v2.14/cache").status_code == 200
    with http(server_factory()) as client:
        listed = [v["id"] for v in client.get("/versions").json()["versions"]]
        assert "v2.14" not in listed
        assert client.get("/v2/cache").status_code == 404
        assert client.get("/v1/cached_images").status_code in (300, 404)  # not the route


def test_caching_flavor_caches_without_the_seed_routes(
    cached_server: Callable[..., LiveServer],
) -> None:
    server = cached_server(flavor="caching")
    data = payload(50_000)
    with http(server) as client:
        image_id = new_image(client, data)
        client.get(f"/v2/images/{image_id}/file")
        wait_cached(client, image_id)
        assert client.get("/v2/cached_images").status_code == 404
        assert client.get("/v1/cached_images").status_code in (300, 404)  # not the route


def test_a_crash_while_filling_leaves_nothing_a_restart_does_not_clean(tmp_path: Path) -> None:
    data_dir = tmp_path / "crashing"
    lines = [f"image_cache_dir = {data_dir / 'cache'}", "[paste_deploy]", "flavor = caching"]
    server = LiveServer(data_dir, lines).start()
    incomplete = data_dir / "cache" / "incomplete"
    try:
        with http(server) as client:
            image_id = new_image(client, payload(256 * 1024 * 1024))
            with client.stream("GET", f"/v2/images/{image_id}/file") as response:
                assert response.status_code == 200
                deadline = time.monotonic() + 20
                while not (incomplete / image_id).exists():
                    assert time.monotonic() < deadline, "the fill never started"
                    time.sleep(0.005)
                assert server.process is not None
                server.process.kill()  # no clean-up of any kind
                server.process.wait()
    except httpx.HTTPError:
        pass
    finally:
        server.stop()
    leftovers = os.listdir(incomplete)
    if not leftovers:  # the fill won the race and finished before the kill
        pytest.skip("the fill completed before the crash")
    assert leftovers == [image_id]
    restarted = LiveServer(data_dir, lines).start()
    try:
        with http(restarted) as client:
            assert os.listdir(incomplete) == []
            assert image_id not in entries(client)
            again = client.get(f"/v2/images/{image_id}/file")
            assert again.status_code == 200 and len(again.content) == 256 * 1024 * 1024
            wait_cached(client, image_id)
    finally:
        restarted.stop()


@pytest.mark.backends("sqlite")  # the servers share one SQLite file of their own
def test_each_server_keeps_its_own_cache(tmp_path: Path) -> None:
    """Two servers on one database and store, each with its own cache directory."""
    shared = tmp_path / "shared"
    servers = []
    try:
        for name in ("node-a", "node-b"):
            data_dir = tmp_path / name
            lines = [
                f"sql_connection = sqlite:///{shared / 'glance.sqlite'}",
                f"filesystem_store_datadir = {shared / 'images'}",
                f"image_cache_dir = {data_dir / 'cache'}",
                "image_cache_driver = centralized_db",
                f"worker_self_reference_url = http://{name}:9292",
                "[paste_deploy]",
                "flavor = cachemanagement",
            ]
            shared.mkdir(exist_ok=True)
            servers.append(LiveServer(data_dir, lines).start())
        a, b = servers
        data = payload(300_000)
        with http(a) as on_a, http(b) as on_b:
            image_id = new_image(on_a, data)
            assert on_b.get(f"/v2/images/{image_id}/file").content == data
            wait_cached(on_b, image_id)
            listed_a, listed_b = on_a.get("/v2/cache"), on_b.get("/v2/cache")
            assert listed_a.headers["x-image-cache-node"] == "http://node-a:9292"
            assert listed_b.headers["x-image-cache-node"] == "http://node-b:9292"
            assert listed_a.json()["cached_images"] == []
            assert [e["image_id"] for e in listed_b.json()["cached_images"]] == [image_id]
            assert on_a.get(f"/v2/cache/nodes/{image_id}").json() == ["http://node-b:9292"]
            assert not (a.data_dir / "cache" / image_id).exists()
            assert (b.data_dir / "cache" / image_id).read_bytes() == data

            # Deleted through A: B never serves it again, and B's clean drops it.
            assert on_a.delete(f"/v2/images/{image_id}").status_code == 204
            assert on_b.get(f"/v2/images/{image_id}/file").status_code == 404
            assert on_b.post("/v2/cache/clean").json()["deleted_images_removed"] == 1
            assert on_b.get("/v2/cache").json()["cached_images"] == []
            assert not (b.data_dir / "cache" / image_id).exists()
    finally:
        for server in servers:
            server.stop()
