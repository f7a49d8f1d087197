"""Uploaded disk images are inspected: the data must match ``disk_format`` and be safe."""

from __future__ import annotations

import struct
from collections.abc import Callable

import httpx
import pytest

from tests.backends import DATA_PATH
from tests.functional.helpers import create, upload
from tests.server import LiveServer

pytestmark = pytest.mark.backends(*DATA_PATH)

VIRTUAL_SIZE = 10 * 1024**3


def qcow2(*, backing_file: bytes = b"", virtual_size: int = VIRTUAL_SIZE) -> bytes:
    """A minimal qcow2 v3 header (plus padding), optionally naming a backing file."""
    backing_offset = 512 if backing_file else 0
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII",
        b"QFI\xfb",
        3,
        backing_offset,
        len(backing_file),
        16,
        virtual_size,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        4,
        104,
    )
    data = header.ljust(512, b"\0") + backing_file
    return data.ljust(64 * 1024, b"\0")


def _image(client: httpx.Client, disk_format: str, container_format: str = "bare") -> str:
    return str(create(client, disk_format=disk_format, container_format=container_format)["id"])


def _files(server: LiveServer) -> list[str]:
    return sorted(p.name for p in (server.data_dir / "images").iterdir())


def test_qcow2_upload_records_virtual_size(client: httpx.Client) -> None:
    image_id = _image(client, "qcow2")
    assert upload(client, image_id, qcow2()).status_code == 204
    shown = client.get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "active"
    assert shown["virtual_size"] == VIRTUAL_SIZE


def test_raw_upload_virtual_size_is_its_size(client: httpx.Client) -> None:
    image_id = _image(client, "raw")
    assert upload(client, image_id, b"r" * 5000).status_code == 204
    assert client.get(f"/v2/images/{image_id}").json()["virtual_size"] == 5000


@pytest.mark.parametrize(
    ("disk_format", "data"),
    [
        ("qcow2", b"not a qcow2 image at all" * 200),
        ("iso", b"random bytes" * 1000),
        ("vmdk", qcow2()),
        ("qcow2", qcow2(backing_file=b"/etc/shadow")),
        ("raw", qcow2(backing_file=b"/etc/shadow")),
    ],
)
def test_mismatched_or_unsafe_data_is_415_and_leaves_nothing(
    live_server: LiveServer, client: httpx.Client, disk_format: str, data: bytes
) -> None:
    image_id = _image(client, disk_format)
    before = _files(live_server)
    response = upload(client, image_id, data, Accept="application/json")
    assert response.status_code == 415, response.text
    shown = client.get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "queued"
    assert shown["size"] is None
    assert shown["checksum"] is None
    assert _files(live_server) == before
    assert client.get(f"/v2/images/{image_id}/file").status_code == 204


def test_non_bare_containers_are_not_inspected(client: httpx.Client) -> None:
    image_id = _image(client, "qcow2", container_format="ovf")
    assert upload(client, image_id, b"an ovf package, not a qcow2").status_code == 204
    assert client.get(f"/v2/images/{image_id}").json()["virtual_size"] is None


def test_format_match_can_be_relaxed(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("[image_format]", "require_image_format_match = false")
    with httpx.Client(base_url=server.url) as client:
        image_id = _image(client, "qcow2")
        assert upload(client, image_id, b"plainly not qcow2").status_code == 204
        assert client.get(f"/v2/images/{image_id}").json()["status"] == "active"
