"""The disk-image corpus through staging and every import method that brings new bytes:
stage (+ glance-direct), web-download and glance-download (from a fake remote region)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import DATA_PATH
from tests.corpus.disk_images import ALL, Case, Corpus
from tests.functional.helpers import OCTET, create
from tests.functional.test_import import import_config, wait_for
from tests.functional.webserver import Content, web_server
from tests.server import LiveServer

pytestmark = pytest.mark.backends(*DATA_PATH)  # what they check is not where tasks live

FORMATS = "ami,ari,aki,vhd,vhdx,vmdk,raw,qcow2,vdi,iso,ploop,luks,gpt,qed"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, int, Content]]:
    with web_server() as served:
        yield served


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("import-corpus")


@pytest.fixture(scope="module")
def server(
    metadata_backend: str, root: Path, web: tuple[str, int, Content]
) -> Iterator[LiveServer]:
    """One server per configuration (``metadata_backend``)."""
    host, port, _ = web
    lines = import_config(root, port, f"disk_formats = {FORMATS}", "image_size_cap = 67108864")
    lines += ["[glance_download_opts]", f"region_endpoints = RegionTwo:http://{host}:{port}"]
    server = LiveServer(root / "server", lines)
    yield server.start()
    server.stop()


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
        yield client


def _leftovers(root: Path, server: LiveServer, image_id: str) -> list[str]:
    places = [root / "staging", server.data_dir / "images"]
    return [p.name for place in places if place.exists() for p in place.glob(f"*{image_id}*")]


def _judge(api: httpx.Client, image_id: str, case: Case, virtual_size: int | None) -> None:
    image: dict[str, Any] = wait_for(api, image_id, "active", "queued", timeout=60)
    if case.safe:
        tasks = api.get(f"/v2/images/{image_id}/tasks").json()
        assert image["status"] == "active", tasks
        assert image["virtual_size"] == virtual_size
    else:
        assert image["status"] == "queued"
        task = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"][0]
        assert task["status"] == "failure"
        assert task["message"]


@pytest.mark.parametrize("case", ALL, ids=lambda case: case.name)
def test_stage_and_glance_direct(
    api: httpx.Client, server: LiveServer, root: Path, corpus: Corpus, case: Case
) -> None:
    data, virtual_size = corpus.get(case)
    image_id = create(api, disk_format=case.disk_format, container_format="bare")["id"]
    staged = api.put(f"/v2/images/{image_id}/stage", content=data, headers=OCTET)
    if not case.safe:
        assert staged.status_code == 415, staged.text
        assert api.get(f"/v2/images/{image_id}").json()["status"] == "queued"
        assert _leftovers(root, server, image_id) == []
        return
    assert staged.status_code == 204, staged.text
    body = {"method": {"name": "glance-direct"}}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    _judge(api, image_id, case, virtual_size)


def _web_download(web: tuple[str, int, Content], data: bytes, case: Case) -> dict[str, Any]:
    host, port, content = web
    path = f"/corpus/{uuid.uuid4().hex}"
    content.files[path] = data
    return {"name": "web-download", "uri": f"http://{host}:{port}{path}"}


def _glance_download(web: tuple[str, int, Content], data: bytes, case: Case) -> dict[str, Any]:
    """The remote region is a fake that serves an active image's metadata and bytes."""
    content = web[2]
    remote_id = str(uuid.uuid4())
    remote = {
        "id": remote_id,
        "name": case.name,
        "status": "active",
        "disk_format": case.disk_format,
        "container_format": "bare",
        "size": len(data),
        "visibility": "public",
    }
    content.files[f"/v2/images/{remote_id}"] = json.dumps(remote).encode()
    content.files[f"/v2/images/{remote_id}/file"] = data
    return {"name": "glance-download", "glance_region": "RegionTwo", "glance_image_id": remote_id}


@pytest.mark.parametrize("method", [_web_download, _glance_download], ids=["web", "glance"])
@pytest.mark.parametrize("case", ALL, ids=lambda case: case.name)
def test_download_methods(
    api: httpx.Client,
    server: LiveServer,
    root: Path,
    web: tuple[str, int, Content],
    corpus: Corpus,
    case: Case,
    method: Callable[[tuple[str, int, Content], bytes, Case], dict[str, Any]],
) -> None:
    data, virtual_size = corpus.get(case)
    image_id = create(api, disk_format=case.disk_format, container_format="bare")["id"]
    body = {"method": method(web, data, case)}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    _judge(api, image_id, case, virtual_size)
    if not case.safe:
        assert _leftovers(root, server, image_id) == []
