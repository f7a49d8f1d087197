"""A server whose default store is S3, driven over its socket and by the real ``glance`` client,
on moto and on Swift's s3api: 64 MiB go up in parts and come back byte-identical, with the
checksums the server reports; the server's memory stays flat whatever the image size.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.integration.stores.test_s3 import (
    MOTO_PORT,
    SWIFT_ACCESS,
    SWIFT_PORT,
    SWIFT_SECRET,
    _backend,
    _empty_bucket,
    s3_client,
)
from tests.memory import MIB, assert_memory_is_flat
from tests.server import LiveServer

GLANCE = Path(sys.executable).parent / "glance"
BACKENDS = {
    "moto": ("moto.sh", MOTO_PORT, "moto-access", "moto-secret/e2e"),
    "swift": ("swift.sh", SWIFT_PORT, SWIFT_ACCESS, SWIFT_SECRET),
}


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[int, str, str]]:
    script, port, access, secret = BACKENDS[request.param]
    for _ in _backend(script):
        yield port, access, secret


@pytest.fixture
async def bucket(backend: tuple[int, str, str]) -> AsyncIterator[str]:
    port, access, secret = backend
    name = f"spyglass-e2e-{uuid.uuid4().hex[:10]}"
    yield name
    async with s3_client(port, access, secret) as client:
        try:
            await _empty_bucket(client, name)
        except Exception as exc:
            if "NoSuchBucket" not in str(exc):
                raise


def _s3_server(
    factory: Callable[..., LiveServer], backend: tuple[int, str, str], bucket: str, *extra: str
) -> LiveServer:
    port, access, secret = backend
    return factory(
        "[glance_store]",
        "default_store = s3",
        "stores = s3",
        f"s3_store_host = http://127.0.0.1:{port}",
        f"s3_store_access_key = {access}",
        f"s3_store_secret_key = {secret}",
        f"s3_store_bucket = {bucket}",
        "s3_store_create_bucket_on_put = true",
        "s3_store_bucket_url_format = path",
        "s3_store_region_name = us-east-1",
        *extra,
    )


def _glance(server: LiveServer, home: Path, *args: str) -> str:
    if not GLANCE.exists():
        pytest.skip("python-glanceclient is not installed here (pip install -e '.[compat]')")
    done = subprocess.run(
        [str(GLANCE), "--os-image-url", server.url, "--os-auth-token", "x", *args],
        cwd=home,
        env={"PATH": os.defpath, "HOME": str(home), "LANG": "C.UTF-8", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"glance {' '.join(args)}:\n{done.stdout}\n{done.stderr[-4000:]}"
    return done.stdout


def _property(table: str, name: str) -> str:
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] == name:
            return cells[1]
    raise AssertionError(f"no {name} in:\n{table}")


@pytest.mark.slow
async def test_64_mib_through_the_glance_client(
    server_factory: Callable[..., LiveServer],
    backend: tuple[int, str, str],
    bucket: str,
    tmp_path: Path,
) -> None:
    port, access, secret = backend
    # parts of 8 MiB from 16 MiB on: 64 MiB is a multipart upload of 8 parts
    server = _s3_server(
        server_factory,
        backend,
        bucket,
        "s3_store_large_object_size = 16",
        "s3_store_large_object_chunk_size = 8",
        "s3_store_thread_pools = 4",
    )
    data = os.urandom(64 * MIB)
    image_file = tmp_path / "disk.raw"
    image_file.write_bytes(data)
    created = _glance(
        server,
        tmp_path,
        "image-create",
        "--name",
        "s3-e2e",
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--file",
        str(image_file),
    )
    image_id = _property(created, "id")
    assert _property(created, "status") == "active"
    assert _property(created, "checksum") == hashlib.md5(data).hexdigest()
    assert _property(created, "size") == str(len(data))

    copy = tmp_path / "copy.raw"
    _glance(server, tmp_path, "image-download", image_id, "--file", str(copy))
    assert copy.read_bytes() == data

    # the object is named by image id, as upstream names it, and no part is left over
    async with s3_client(port, access, secret) as client:
        head = await client.head_object(Bucket=bucket, Key=image_id)
        uploads = await client.list_multipart_uploads(Bucket=bucket)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-8"), "64 MiB in 8 MiB parts"
    assert not uploads.get("Uploads")

    # ranged reads over the API come from the object's middle, across a part boundary
    async with httpx.AsyncClient(base_url=server.url, timeout=60, trust_env=False) as http:
        start, end = 8 * MIB - 10, 8 * MIB + 9
        wanted = {"Range": f"bytes={start}-{end}"}
        ranged = await http.get(f"/v2/images/{image_id}/file", headers=wanted)
        assert ranged.status_code == 206
        assert ranged.content == data[start : end + 1]
        image: dict[str, Any] = (await http.get(f"/v2/images/{image_id}")).json()
        assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()
        assert (await http.delete(f"/v2/images/{image_id}")).status_code == 204
    async with s3_client(port, access, secret) as client:
        listed = await client.list_objects_v2(Bucket=bucket)
    assert not listed.get("Contents"), "deleting the image deleted its object"
    log = server.log.read_text()
    assert secret not in log and access not in log


@pytest.mark.slow
def test_peak_rss_is_flat_on_s3(
    server_factory: Callable[..., LiveServer], backend: tuple[int, str, str], bucket: str
) -> None:
    """Default part sizes (100 MiB threshold, 10 MiB parts, 10 threads): single PUTs below,
    multipart above, and the same peak either way."""
    server = _s3_server(server_factory, backend, bucket)
    assert_memory_is_flat(server, small=16 * MIB, large=192 * MIB)


def _gc(server: LiveServer, *args: str) -> str:
    command = [sys.executable, "-m", "spyglass", "gc", "--config-file", str(server.config)]
    command += ["--data-dir", str(server.data_dir), "--no-progress", "--grace", "0", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"spyglass gc {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _endless_upload(server: LiveServer, image_id: str, stop: threading.Event) -> threading.Thread:
    """An upload of unknown size that goes on until ``stop`` (or the server dies)."""

    def body() -> Iterator[bytes]:
        while not stop.is_set():
            yield os.urandom(MIB)
            time.sleep(0.05)

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
            httpx.put(
                f"{server.url}/v2/images/{image_id}/file", content=body(), timeout=120,
                headers={"Content-Type": "application/octet-stream"}, trust_env=False,
            )  # fmt: skip

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _uploads(port: int, access: str, secret: str, bucket: str) -> dict[str, int]:
    """Unfinished multipart uploads in the bucket: key -> parts stored."""
    return anyio.run(_listed_uploads, port, access, secret, bucket)


async def _listed_uploads(port: int, access: str, secret: str, bucket: str) -> dict[str, int]:
    found: dict[str, int] = {}
    async with s3_client(port, access, secret) as client:
        try:
            listed = await client.list_multipart_uploads(Bucket=bucket)
        except client.exceptions.NoSuchBucket:
            return found  # the store makes it with the first upload
        for upload in listed.get("Uploads", []):
            parts = await client.list_parts(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            found[upload["Key"]] = len(parts.get("Parts", []))
    return found


def test_gc_aborts_the_multipart_upload_of_a_killed_server(
    server_factory: Callable[..., LiveServer], backend: tuple[int, str, str], bucket: str
) -> None:
    port, access, secret = backend
    sizes = ("s3_store_large_object_size = 5", "s3_store_large_object_chunk_size = 5")
    server = _s3_server(server_factory, backend, bucket, *sizes, "[recovery]", "upload_lease = 1")
    created = httpx.post(
        f"{server.url}/v2/images", json={"disk_format": "raw", "container_format": "bare"}
    )
    image_id = created.json()["id"]
    stop = threading.Event()
    _endless_upload(server, image_id, stop)
    try:
        for _ in range(600):  # until a part of the upload is in the bucket
            if _uploads(port, access, secret, bucket).get(image_id):
                break
            time.sleep(0.1)
        assert server.process is not None
        server.process.kill()  # no abort of any kind
        server.process.wait()
    finally:
        stop.set()
    assert _uploads(port, access, secret, bucket).get(image_id)

    # still `saving` (no server has recovered it yet): a live upload to gc, left alone
    assert "1 too young or being written" in _gc(server)
    assert image_id in _uploads(port, access, secret, bucket)

    server.start(timeout=90)  # recovers the image to `queued` once its lease has expired
    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
        for _ in range(300):
            if client.get(f"/v2/images/{image_id}").json()["status"] == "queued":
                break
            time.sleep(0.1)
        assert client.get(f"/v2/images/{image_id}").json()["status"] == "queued"

        dry = _gc(server, "--dry-run")
        assert f" of {image_id} (last part " in dry
        assert "1 unfinished upload(s) would be aborted" in dry
        assert image_id in _uploads(port, access, secret, bucket)
        assert "1 unfinished upload(s) aborted" in _gc(server)
        assert _uploads(port, access, secret, bucket) == {}

        data = os.urandom(6 * MIB)  # a multipart upload again, from the same image
        stored = client.put(
            f"/v2/images/{image_id}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert stored.status_code == 204, stored.text
        assert client.get(f"/v2/images/{image_id}/file").content == data
