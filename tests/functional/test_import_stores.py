"""Imports with several stores (``stores``, ``all_stores``, ``all_stores_must_succeed``,
copy-image and its progress properties) and glance-download from a second server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import DATA_PATH
from tests.functional.helpers import OCTET, create, upload
from tests.functional.test_import import DATA, wait_for
from tests.server import LiveServer

pytestmark = pytest.mark.backends(*DATA_PATH)  # what they check is not where tasks live


def multi_store_config(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "enabled_backends = fast:file, cheap:file, broken:file",
        f"node_staging_uri = file://{tmp_path}/staging",
        "enabled_import_methods = glance-direct,web-download,copy-image,glance-download",
        *extra,
        "[glance_store]",
        "default_backend = fast",
        "[os_glance_staging_store]",
        f"filesystem_store_datadir = {tmp_path}/staging",
        "[fast]",
        f"filesystem_store_datadir = {tmp_path}/fast",
        "[cheap]",
        f"filesystem_store_datadir = {tmp_path}/cheap",
        "[broken]",
        f"filesystem_store_datadir = {tmp_path}/blocker/broken",  # a file is in the way
    ]


@pytest.fixture
def server(server_factory: Callable[..., LiveServer], tmp_path: Path) -> LiveServer:
    (tmp_path / "blocker").write_text("not a directory")
    return server_factory(*multi_store_config(tmp_path))


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield http


def stores_of(image: dict[str, object]) -> set[str]:
    return set(str(image.get("stores", "")).split(",")) - {""}


def staged(api: httpx.Client) -> str:
    image_id = str(create(api, name="m", disk_format="raw", container_format="bare")["id"])
    answer = api.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTET)
    assert answer.status_code == 204, answer.text
    return image_id


def test_versions_list_the_multi_store_minors(api: httpx.Client) -> None:
    ids = {v["id"] for v in api.get("/versions").json()["versions"]}
    assert {"v2.8", "v2.10", "v2.11", "v2.12", "v2.13"} <= ids


def test_glance_direct_into_chosen_stores(api: httpx.Client) -> None:
    image_id = staged(api)
    body = {"method": {"name": "glance-direct"}, "stores": ["fast", "cheap"]}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    image = wait_for(api, image_id, "active")
    assert stores_of(image) == {"fast", "cheap"}
    assert image["os_glance_importing_to_stores"] == ""
    assert image["os_glance_failed_import"] == ""


def test_store_choice_errors(api: httpx.Client) -> None:
    image_id = staged(api)
    url = f"/v2/images/{image_id}/import"
    unknown = {"method": {"name": "glance-direct"}, "stores": ["nowhere"]}
    assert api.post(url, json=unknown).status_code == 409
    both = {"method": {"name": "glance-direct"}, "stores": ["fast"], "all_stores": True}
    assert api.post(url, json=both).status_code == 400
    header = {"method": {"name": "glance-direct"}, "stores": ["fast"]}
    answer = api.post(url, json=header, headers={"X-Image-Meta-Store": "cheap"})
    assert answer.status_code == 400


def test_all_stores_must_succeed(api: httpx.Client, tmp_path: Path) -> None:
    image_id = staged(api)
    body = {"method": {"name": "glance-direct"}, "stores": ["fast", "broken"]}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    image = wait_for(api, image_id, "queued", "active")
    assert image["status"] == "queued"
    assert image["os_glance_failed_import"] == "fast,broken"
    assert sorted(p.name for p in (tmp_path / "fast").iterdir()) == []
    assert not (tmp_path / "staging" / image_id).exists()


def test_some_stores_may_fail(api: httpx.Client) -> None:
    image_id = staged(api)
    body = {
        "method": {"name": "glance-direct"},
        "stores": ["fast", "broken", "cheap"],
        "all_stores_must_succeed": False,
    }
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    image = wait_for(api, image_id, "active")
    assert stores_of(image) == {"fast", "cheap"}
    assert image["os_glance_failed_import"] == "broken"


def test_copy_image(api: httpx.Client) -> None:
    image_id = str(create(api, name="c", disk_format="raw", container_format="bare")["id"])
    assert upload(api, image_id, DATA).status_code == 204
    url = f"/v2/images/{image_id}/import"
    again = {"method": {"name": "copy-image"}, "stores": ["fast"]}
    assert api.post(url, json=again).status_code == 400  # already there
    copy = {"method": {"name": "copy-image"}, "stores": ["cheap"]}
    assert api.post(url, json=copy).status_code == 202
    deadline_image = wait_for(api, image_id, "active")
    for _ in range(100):
        if "os_glance_import_task" not in deadline_image:
            break
        deadline_image = wait_for(api, image_id, "active")
    assert stores_of(deadline_image) == {"fast", "cheap"}
    assert deadline_image["os_glance_importing_to_stores"] == ""
    everywhere = {"method": {"name": "copy-image"}, "all_stores": True}
    assert api.post(url, json=everywhere).status_code == 202  # no writable store lacks it
    assert "os_glance_import_task" not in api.get(f"/v2/images/{image_id}").json()
    broken = {"method": {"name": "copy-image"}, "stores": ["broken"]}
    assert api.post(url, json=broken).status_code == 202
    image = wait_for(api, image_id, "active")
    for _ in range(100):
        if "os_glance_import_task" not in image:
            break
        image = wait_for(api, image_id, "active")
    assert image["os_glance_failed_import"] == "broken"
    assert stores_of(image) == {"fast", "cheap"}


def test_glance_download(
    server_factory: Callable[..., LiveServer], tmp_path: Path, api: httpx.Client
) -> None:
    remote = server_factory(f"node_staging_uri = file://{tmp_path}/remote-staging")
    with httpx.Client(base_url=remote.url, timeout=30, trust_env=False) as other:
        source = create(other, name="src", disk_format="raw", container_format="bare")
        patch = [{"op": "add", "path": "/hw_disk_bus", "value": "scsi"}]
        media = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
        assert other.patch(f"/v2/images/{source['id']}", json=patch, headers=media).is_success
        assert upload(other, source["id"], DATA).status_code == 204
    local = server_factory(
        *multi_store_config(
            tmp_path / "local",
            "[glance_download_opts]",
            f"region_endpoints = RegionTwo:{remote.url}",
            "[import_filtering_opts]",
            "allowed_hosts = 127.0.0.1",
            f"allowed_ports = {remote.port}",
        )
    )
    with httpx.Client(base_url=local.url, timeout=30, trust_env=False) as here:
        image_id = create(here, name="copy", disk_format="qcow2", container_format="bare")["id"]
        body = {
            "method": {
                "name": "glance-download",
                "glance_region": "RegionTwo",
                "glance_image_id": source["id"],
            }
        }
        assert here.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
        image = wait_for(here, image_id, "active", "queued")
        assert image["status"] == "active", here.get(f"/v2/images/{image_id}/tasks").json()
        assert image["disk_format"] == "raw"  # taken from the remote image
        assert image["hw_disk_bus"] == "scsi"
        assert here.get(f"/v2/images/{image_id}/file").content == DATA
