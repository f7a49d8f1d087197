"""Images whose data another web server holds: registered by URL through v2, read
through the HTTP store under the outbound rules, never written or deleted there."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import httpx
import pytest

from tests.functional.helpers import create, patch
from tests.http_origin import HttpOrigin
from tests.memory import GROWTH_LIMIT_MIB, MIB, RSS_LIMIT_MIB
from tests.server import LiveServer, RssSampler, pattern_stream

DATA = hashlib.sha512(b"seed").digest() * 40_000  # 2.5 MiB
V1_FORMATS = {"x-image-meta-disk-format": "raw", "x-image-meta-container-format": "bare"}
LOOPBACK_ALLOWED = (
    "show_multiple_locations = true",
    "[import_filtering_opts]",
    "allowed_ports =",
    "allowed_networks = 127.0.0.0/8",
)


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30, trust_env=False)


def _add(client: httpx.Client, image_id: str, url: str) -> httpx.Response:
    value = {"url": url, "metadata": {}}
    return patch(client, image_id, [{"op": "add", "path": "/locations/-", "value": value}])


def test_register_by_url_and_download(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    server = server_factory(*LOOPBACK_ALLOWED)
    url = origin.put("/images/disk.raw", DATA)
    with _client(server) as client:
        image = create(client, disk_format="raw", container_format="bare")
        added = _add(client, image["id"], url)
        assert added.status_code == 200, added.text
        shown = added.json()
        assert (shown["status"], shown["size"]) == ("active", len(DATA))
        assert shown["locations"] == [{"url": url, "metadata": {}}]
        assert [s.method for s in origin.requests("/images/disk.raw")] == ["HEAD"]

        body = client.get(f"/v2/images/{image['id']}/file")
        assert body.status_code == 200 and body.content == DATA
        ranged = client.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206 and ranged.content == DATA[100:200]

        assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert {s.method for s in origin.seen} == {"HEAD", "GET"}  # nothing deleted there
    assert origin.resources["/images/disk.raw"].data == DATA


def test_the_post_locations_api_registers_http_urls(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    server = server_factory(*LOOPBACK_ALLOWED)
    origin.put("/real.img", DATA)
    url = origin.put("/moved.img", redirect="/real.img", status=301)
    with _client(server) as client:
        image = create(client, disk_format="raw", container_format="bare")
        posted = client.post(f"/v2/images/{image['id']}/locations", json={"url": url})
        assert posted.status_code == 202, posted.text
        shown = client.get(f"/v2/images/{image['id']}").json()
        assert (shown["status"], shown["size"]) == ("active", len(DATA))
        assert client.get(f"/v2/images/{image['id']}/file").content == DATA


def test_outbound_rules_refuse_locations(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    """The defaults: loopback is refused, and ports other than 80 and 443."""
    server = server_factory("show_multiple_locations = true")
    url = origin.put("/images/disk.raw", DATA)
    with _client(server) as client:
        image = create(client, disk_format="raw", container_format="bare")
        refused = _add(client, image["id"], url)
        assert refused.status_code == 400
        assert "port" in refused.text
        for target in ("http://127.0.0.1/x", "http://169.254.169.254/latest/meta-data/"):
            refused = _add(client, image["id"], target)
            assert refused.status_code == 400 and "private address" in refused.text, target
        assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert origin.seen == []


def test_a_redirect_to_a_refused_address_is_refused(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    server = server_factory(
        "show_multiple_locations = true",
        "[import_filtering_opts]",
        "allowed_ports =",
        "allowed_hosts = 127.0.0.1",
    )
    url = origin.put("/jump", redirect=origin.url("/images/disk.raw", host="localhost"))
    origin.put("/images/disk.raw", DATA)
    with _client(server) as client:
        image = create(client, disk_format="raw", container_format="bare")
        refused = _add(client, image["id"], url)
        assert refused.status_code == 400 and "host localhost is not allowed" in refused.text
    assert [s.path for s in origin.seen] == ["/jump"]


def test_credentials_in_http_locations_are_never_shown(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    server = server_factory(*LOOPBACK_ALLOWED)
    origin.put("/private/disk.raw", DATA)
    url = f"http://reader:s3cr3t-pw@127.0.0.1:{origin.port}/private/disk.raw"
    with _client(server) as client:
        image = create(client, disk_format="raw", container_format="bare")
        added = _add(client, image["id"], url)
        assert added.status_code == 200, added.text
        assert client.get(f"/v2/images/{image['id']}/file").content == DATA
        shown = [
            added.text,
            client.get(f"/v2/images/{image['id']}").text,
            client.get(f"/v2/images/{image['id']}/locations").text,
            client.get("/v2/images").text,
        ]
    assert all("s3cr3t-pw" not in text and "reader" not in text for text in shown)
    assert f"127.0.0.1:{origin.port}/private/disk.raw" in shown[1]
    assert {s.authorization for s in origin.seen} == {"Basic cmVhZGVyOnMzY3IzdC1wdw=="}
    assert "s3cr3t-pw" not in server.log.read_text()


def test_a_remote_that_goes_away_is_a_503_not_a_500(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    server = server_factory(*LOOPBACK_ALLOWED)
    url = origin.put("/images/disk.raw", DATA)
    with _client(server) as client:
        image = create(client, disk_format="raw", container_format="bare")
        assert _add(client, image["id"], url).status_code == 200
        origin.put("/images/disk.raw", status=503)
        assert client.get(f"/v2/images/{image['id']}/file").status_code == 503
        del origin.resources["/images/disk.raw"]
        assert client.get(f"/v2/images/{image['id']}/file").status_code == 503


@pytest.mark.slow
def test_memory_stays_flat_for_remote_data(
    server_factory: Callable[..., LiveServer], origin: HttpOrigin
) -> None:
    """Reading an HTTP location and copying from one (v1 copy-from into the file store)
    stream: the server's peak RSS does not grow with the image."""
    server = server_factory(*LOOPBACK_ALLOWED)
    peaks = {}
    with _client(server) as client:
        for size in (16 * MIB, 256 * MIB):
            data = b"".join(pattern_stream(size))
            url = origin.put(f"/{size}.raw", data)
            image = create(client, disk_format="raw", container_format="bare")
            assert _add(client, image["id"], url).status_code == 200
            with RssSampler(server.pid) as sampler:
                received = hashlib.sha256()
                with client.stream("GET", f"/v2/images/{image['id']}/file") as download:
                    for chunk in download.iter_raw():
                        received.update(chunk)
                headers = {**V1_FORMATS, "x-glance-api-copy-from": url}
                copied = client.post("/v1/images", headers=headers).json()["image"]["id"]
                deadline = time.monotonic() + 120
                while client.get(f"/v2/images/{copied}").json()["status"] != "active":
                    assert time.monotonic() < deadline, "the copy did not finish"
                    time.sleep(0.1)
            assert received.digest() == hashlib.sha256(data).digest()
            assert client.get(f"/v2/images/{copied}").json()["size"] == size
            peaks[size] = sampler.peak / MIB
            del origin.resources[f"/{size}.raw"], data
            client.delete(f"/v2/images/{copied}")
    small, large = peaks[16 * MIB], peaks[256 * MIB]
    assert large < RSS_LIMIT_MIB, f"peak RSS {large:.0f} MiB"
    assert large - small < GROWTH_LIMIT_MIB, f"RSS grew from {small:.0f} to {large:.0f} MiB"
