"""Import plugins end to end: a gzip'd qcow2 staged, decompressed, converted to raw
by qemu-img, with injected properties; and their refusals."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import DATA_PATH
from tests.functional.helpers import OCTET, create
from tests.functional.test_import import DATA, wait_for
from tests.lha import lha_archive
from tests.server import LiveServer

pytestmark = pytest.mark.backends(*DATA_PATH)  # what they check is not where tasks live

QEMU_IMG = shutil.which("qemu-img")
needs_qemu = pytest.mark.skipif(QEMU_IMG is None, reason="qemu-img (Debian qemu-utils) is missing")


def qcow2_of(data: bytes, tmp_path: Path, *, backing: bool = False) -> bytes:
    raw, out = tmp_path / "in.raw", tmp_path / "out.qcow2"
    raw.write_bytes(data)
    assert QEMU_IMG is not None
    if backing:
        command = [QEMU_IMG, "create", "-f", "qcow2", "-F", "raw", "-b", str(raw), str(out)]
    else:
        command = [QEMU_IMG, "convert", "-f", "raw", "-O", "qcow2", str(raw), str(out)]
    subprocess.run(command, check=True, capture_output=True)
    return out.read_bytes()


@pytest.fixture
def server(server_factory: Callable[..., LiveServer], tmp_path: Path) -> LiveServer:
    return server_factory(
        f"node_staging_uri = file://{tmp_path}/staging",
        "[image_import_opts]",
        "image_import_plugins = image_decompression, image_conversion, inject_image_metadata",
        "[image_conversion]",
        "output_format = raw",
        "[inject_metadata_properties]",
        "ignore_user_roles = service",
        "inject = injected_by:operator,hw_rng_model:virtio",
    )


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield http


def stage_and_import(api: httpx.Client, data: bytes, disk_format: str) -> dict[str, object]:
    image_id = create(api, name="p", disk_format=disk_format, container_format="bare")["id"]
    staged = api.put(f"/v2/images/{image_id}/stage", content=data, headers=OCTET)
    assert staged.status_code == 204, staged.text
    body = {"method": {"name": "glance-direct"}}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    image: dict[str, object] = wait_for(api, image_id, "active", "queued")
    return image


@needs_qemu
def test_gzipped_qcow2_becomes_raw(api: httpx.Client, tmp_path: Path) -> None:
    image = stage_and_import(api, gzip.compress(qcow2_of(DATA, tmp_path)), "qcow2")
    assert image["status"] == "active"
    assert (image["disk_format"], image["size"], image["virtual_size"]) == (
        "raw",
        len(DATA),
        len(DATA),
    )
    assert (image["injected_by"], image["hw_rng_model"]) == ("operator", "virtio")
    assert api.get(f"/v2/images/{image['id']}/file").content == DATA
    assert list((tmp_path / "staging").iterdir()) == []


def test_zip_is_decompressed(api: httpx.Client) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("disk.raw", DATA)
    image = stage_and_import(api, packed.getvalue(), "raw")
    assert image["status"] == "active"
    assert api.get(f"/v2/images/{image['id']}/file").content == DATA


def test_lha_is_decompressed(api: httpx.Client) -> None:
    pytest.importorskip("lhafile", reason="lhafile is not installed (pip install -e '.[lha]')")
    image = stage_and_import(api, lha_archive((b"disk.raw", DATA)), "raw")
    assert image["status"] == "active"
    assert api.get(f"/v2/images/{image['id']}/file").content == DATA


def test_zip_with_two_files_is_refused(api: httpx.Client, tmp_path: Path) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("a", b"1")
        archive.writestr("b", b"2")
    image = stage_and_import(api, packed.getvalue(), "raw")
    assert image["status"] == "queued"
    task = api.get(f"/v2/images/{image['id']}/tasks").json()["tasks"][0]
    assert "holds 2 files" in task["message"]
    assert list((tmp_path / "staging").iterdir()) == []


@needs_qemu
def test_qcow2_with_a_backing_file_is_not_converted(api: httpx.Client, tmp_path: Path) -> None:
    image = stage_and_import(api, qcow2_of(DATA, tmp_path, backing=True), "qcow2")
    assert image["status"] == "queued"
    task = api.get(f"/v2/images/{image['id']}/tasks").json()["tasks"][0]
    assert "backing file" in task["message"]


@needs_qemu
def test_data_that_is_not_its_disk_format_is_not_converted(api: httpx.Client) -> None:
    image = stage_and_import(api, DATA, "qcow2")
    assert image["status"] == "queued"
    task = api.get(f"/v2/images/{image['id']}/tasks").json()["tasks"][0]
    assert "qemu-img" in task["message"] or "does not match" in task["message"]
