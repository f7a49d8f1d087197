"""Every crafted disk image, through every way bytes enter: safe ones accepted with the right
``virtual_size``, unsafe ones refused with nothing kept."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.corpus.disk_images import ALL, Case, Corpus
from tests.functional.helpers import create, upload
from tests.server import LiveServer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def live_server(
    metadata_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """Every inspectable format may be declared (upstream's default list lacks luks, gpt, qed);
    one server per configuration (``metadata_backend``)."""
    formats = "ami,ari,aki,vhd,vhdx,vmdk,raw,qcow2,vdi,iso,ploop,luks,gpt,qed"
    server = LiveServer(tmp_path_factory.mktemp("corpus-server"), [f"disk_formats = {formats}"])
    yield server.start()
    server.stop()


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60, trust_env=False) as http:
        yield http


def _stored(server: LiveServer) -> set[str]:
    return {p.name for p in (server.data_dir / "images").iterdir()}


def _kept(server: LiveServer, image_id: str) -> list[str]:
    return [p.name for p in (server.data_dir / "images").glob(f"{image_id}*")]


@pytest.mark.parametrize("case", ALL, ids=lambda case: case.name)
def test_v2_upload(
    client: httpx.Client, live_server: LiveServer, corpus: Corpus, case: Case
) -> None:
    data, virtual_size = corpus.get(case)
    image = create(client, disk_format=case.disk_format, container_format="bare")
    response = upload(client, image["id"], data)
    shown = client.get(f"/v2/images/{image['id']}").json()
    if case.safe:
        assert response.status_code == 204, response.text
        assert (shown["status"], shown["virtual_size"], shown["size"]) == (
            "active",
            virtual_size,
            len(data),
        )
    else:
        assert response.status_code == 415, response.text
        assert (shown["status"], shown["checksum"]) == ("queued", None)
        assert _kept(live_server, image["id"]) == []


@pytest.mark.parametrize("case", ALL, ids=lambda case: case.name)
def test_v1_create(
    client: httpx.Client, live_server: LiveServer, corpus: Corpus, case: Case
) -> None:
    data, virtual_size = corpus.get(case)
    before = _stored(live_server)
    headers = {
        "x-image-meta-name": case.name,
        "x-image-meta-disk_format": case.disk_format,
        "x-image-meta-container_format": "bare",
        "Content-Type": "application/octet-stream",
    }
    response = client.post("/v1/images", content=data, headers=headers)
    if case.safe:
        assert response.status_code == 201, response.text
        image_id = response.json()["image"]["id"]
        shown = client.get(f"/v2/images/{image_id}").json()
        assert (shown["status"], shown["virtual_size"]) == ("active", virtual_size)
    else:
        assert response.status_code == 415, response.text
        assert _stored(live_server) == before
