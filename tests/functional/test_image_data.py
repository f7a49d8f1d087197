"""Upload and download of image bytes, over a real socket."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.helpers import OCTET, create, upload
from tests.server import LiveServer


def _ready(client: httpx.Client, **extra: object) -> dict[str, object]:
    return create(client, disk_format="raw", container_format="bare", **extra)


def _stored_files(server: LiveServer) -> list[Path]:
    return [p for p in (server.data_dir / "images").iterdir()]


def test_upload_then_download_round_trips(client: httpx.Client) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    image = _ready(client)
    assert upload(client, str(image["id"]), data).status_code == 204
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    response = client.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-MD5"] == shown["checksum"]
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_chunked_upload_is_accepted(client: httpx.Client) -> None:
    pieces = [os.urandom(100_000) for _ in range(7)]
    image = _ready(client)

    def body() -> Iterator[bytes]:
        yield from pieces

    response = client.put(f"/v2/images/{image['id']}/file", content=body(), headers=OCTET)
    assert response.status_code == 204
    assert client.get(f"/v2/images/{image['id']}/file").content == b"".join(pieces)


def test_empty_image_upload(client: httpx.Client) -> None:
    image = _ready(client)
    assert upload(client, str(image["id"]), b"").status_code == 204
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["size"] == 0 and shown["checksum"] == hashlib.md5(b"").hexdigest()


def test_upload_needs_formats_and_leaves_image_queued(client: httpx.Client) -> None:
    image = create(client)
    assert upload(client, str(image["id"]), b"data").status_code == 400
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/json"])
def test_upload_needs_octet_stream(client: httpx.Client, content_type: str | None) -> None:
    image = _ready(client)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.put(f"/v2/images/{image['id']}/file", content=b"x", headers=headers)
    assert response.status_code == 415
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_second_upload_is_409_and_keeps_first_data(client: httpx.Client) -> None:
    image = _ready(client)
    upload(client, str(image["id"]), b"first")
    assert upload(client, str(image["id"]), b"second").status_code == 409
    assert client.get(f"/v2/images/{image['id']}/file").content == b"first"


def test_declared_size_mismatch_is_400_and_stores_nothing(
    live_server: LiveServer, client: httpx.Client
) -> None:
    image = _ready(client)
    before = set(_stored_files(live_server))
    for size in ("3", "100"):
        response = upload(
            client, str(image["id"]), b"0123456789", **{"x-openstack-image-size": size}
        )
        assert response.status_code == 400
        shown = client.get(f"/v2/images/{image['id']}").json()
        assert shown["status"] == "queued" and shown["size"] is None
    assert (
        upload(client, str(image["id"]), b"x", **{"x-openstack-image-size": "abc"}).status_code
        == 400
    )
    assert set(_stored_files(live_server)) == before


def test_upload_to_missing_image_is_404(client: httpx.Client) -> None:
    assert upload(client, str(uuid.uuid4()), b"x").status_code == 404


def test_size_cap_is_enforced_while_streaming(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("image_size_cap = 1000000")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        image = _ready(client)
        response = upload(client, str(image["id"]), b"x" * 1_000_001)
        assert response.status_code == 413
        assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
        assert _stored_files(server) == []
        assert upload(client, str(image["id"]), b"x" * 1_000_000).status_code == 204


def _wait_for_status(client: httpx.Client, image_id: str, status: str) -> str:
    current = ""
    for _ in range(100):
        current = client.get(f"/v2/images/{image_id}").json()["status"]
        if current == status:
            break
        threading.Event().wait(0.1)
    return current


def test_interrupted_upload_leaves_queued_image_and_no_data(
    live_server: LiveServer, client: httpx.Client
) -> None:
    import socket

    image = _ready(client)
    before = set(_stored_files(live_server))
    with socket.create_connection(("127.0.0.1", live_server.port)) as sock:
        sock.sendall(
            f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n".encode()
            + b"x" * 3_000_000
        )
        assert _wait_for_status(client, str(image["id"]), "saving") == "saving"
    assert _wait_for_status(client, str(image["id"]), "queued") == "queued"
    assert set(_stored_files(live_server)) == before
    assert upload(client, str(image["id"]), b"retry").status_code == 204


def test_concurrent_uploads_one_wins_one_conflicts(
    client: httpx.Client, live_server: LiveServer
) -> None:
    image = _ready(client)
    results: list[int] = []

    def slow_body() -> Iterator[bytes]:
        for _ in range(20):
            yield b"a" * 100_000
            threading.Event().wait(0.02)

    def send() -> None:
        with httpx.Client(base_url=live_server.url, timeout=30) as c:
            r = c.put(f"/v2/images/{image['id']}/file", content=slow_body(), headers=OCTET)
            results.append(r.status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [204, 409]
    assert client.get(f"/v2/images/{image['id']}/file").content == b"a" * 2_000_000


def test_download_of_queued_image_is_204(client: httpx.Client) -> None:
    image = _ready(client)
    response = client.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 204 and response.content == b""


def test_download_of_missing_image_is_404(client: httpx.Client) -> None:
    assert client.get(f"/v2/images/{uuid.uuid4()}/file").status_code == 404


@pytest.mark.parametrize(
    ("header", "status", "body", "content_range"),
    [
        ("bytes=0-9", 206, b"0123456789", "bytes 0-9/26"),
        ("bytes=20-", 206, b"klmnop", "bytes 20-25/26"),
        ("bytes=-3", 206, b"nop", "bytes 23-25/26"),
        ("bytes=24-100", 206, b"op", "bytes 24-25/26"),
        ("bytes=26-", 416, None, None),
        ("bytes=abc", 416, None, None),
        ("bytes=0-1,3-4", 400, None, None),
    ],
)
def test_ranged_downloads(
    client: httpx.Client, header: str, status: int, body: bytes | None, content_range: str | None
) -> None:
    image = _ready(client)
    upload(client, str(image["id"]), b"0123456789abcdefghijklmnop")
    response = client.get(f"/v2/images/{image['id']}/file", headers={"Range": header})
    assert response.status_code == status
    if body is not None:
        assert response.content == body
        assert response.headers["Content-Range"] == content_range


def test_delete_removes_data_from_store(live_server: LiveServer, client: httpx.Client) -> None:
    image = _ready(client)
    upload(client, str(image["id"]), b"to be deleted")
    path = live_server.data_dir / "images" / str(image["id"])
    assert path.read_bytes() == b"to be deleted"
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert not path.exists()
