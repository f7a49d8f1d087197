"""Swift taken away in the middle of a transfer through the API, and given back.

The API server's Swift store goes through a proxy of this module's own
(``scripts/swift.sh proxy-start``), in front of the same storage as the main proxy; the
tests stop that proxy mid-upload and mid-download and start it again, while the main one,
which other users share, stays up and is what the tests list the container through.
The API server is never restarted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import anyio
import httpx
import pytest

from tests.integration.stores.swift_backend import (
    KEY,
    SwiftProxy,
    module_container,
    single_store_lines,
    swift_main,
    swift_proxy,
)
from tests.server import LiveServer, pattern_stream

__all__ = ["module_container", "swift_main", "swift_proxy"]  # fixtures
MIB = 1024 * 1024
SIZE = 48 * MIB
SEGMENT_MIB = 4
OCTETS = {"Content-Type": "application/octet-stream", "Accept": "application/json"}


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, swift_proxy: SwiftProxy, module_container: str
) -> Iterator[httpx.Client]:
    """A client of a server whose store goes through the private proxy (downloads resume
    twice); the one server of the module, never restarted."""
    lines = single_store_lines(swift_proxy, module_container, SEGMENT_MIB)
    lines.append("swift_store_retry_get_count = 2")
    live = LiveServer(tmp_path_factory.mktemp("swift-outage"), lines).start(timeout=90)
    try:
        with httpx.Client(base_url=live.url, timeout=120, trust_env=False) as http:
            yield http
    finally:
        live.stop()


@pytest.fixture
def proxy(swift_proxy: SwiftProxy) -> Iterator[SwiftProxy]:
    """The private proxy, running again after the test whatever happened."""
    yield swift_proxy
    swift_proxy.start()


def _new_image(client: httpx.Client) -> str:
    created = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    assert created.status_code == 201, created.text
    image_id: str = created.json()["id"]
    return image_id


def _status(client: httpx.Client, image_id: str) -> str:
    status: str = client.get(f"/v2/images/{image_id}").json()["status"]
    return status


def _objects_of(swift_main: SwiftProxy, container: str, image_id: str) -> list[str]:
    return [n for n in anyio.run(swift_main.names, container) if n.startswith(image_id)]


def _stopping_after(size: int, at: int, stop: Callable[[], None]) -> Iterator[bytes]:
    """``size`` bytes of the pattern; ``stop`` runs once ``at`` of them have gone."""
    sent = 0
    stopped = False
    for piece in pattern_stream(size):
        if sent >= at and not stopped:
            stop()
            stopped = True
        sent += len(piece)
        yield piece


def _wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def _read_stopping(
    download: httpx.Response, proxy: SwiftProxy
) -> tuple[int, httpx.HTTPError | None]:
    """Read a download, stopping ``proxy`` after 4 MiB: the bytes read and how it ended."""
    received, stopped = 0, False
    try:
        for chunk in download.iter_raw(MIB):
            received += len(chunk)
            if received >= 4 * MIB and not stopped:
                proxy.stop()
                stopped = True
    except httpx.HTTPError as exc:
        return received, exc
    return received, None


def _round_trip(client: httpx.Client, image_id: str) -> None:
    stored = client.put(f"/v2/images/{image_id}/file", content=pattern_stream(SIZE), headers=OCTETS)
    assert stored.status_code == 204, stored.text
    got = client.get(f"/v2/images/{image_id}/file")
    assert got.status_code == 200 and got.content == b"".join(pattern_stream(SIZE))


def test_swift_stopped_mid_upload_is_503_leaves_no_segment_and_recovers(
    client: httpx.Client, proxy: SwiftProxy, swift_main: SwiftProxy, module_container: str
) -> None:
    image_id = _new_image(client)
    body = _stopping_after(SIZE, 3 * SEGMENT_MIB * MIB, proxy.stop)
    try:
        answer = client.put(f"/v2/images/{image_id}/file", content=body, headers=OCTETS)
    except httpx.HTTPError as exc:  # only if the server closed before its answer was read
        pytest.fail(f"the upload got no answer: {exc!r}")
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "30"
    assert answer.json()["message"].startswith("Swift store swift is unavailable")
    assert KEY not in answer.text
    assert _status(client, image_id) == "queued"
    # the segments written before the outage: the server cannot delete them yet
    assert _objects_of(swift_main, module_container, image_id)

    refused = client.put(f"/v2/images/{image_id}/file", content=b"x" * MIB, headers=OCTETS)
    assert refused.status_code == 503 and "Retry-After" in refused.headers  # still down

    proxy.start()
    # the segments written before the outage are deleted once Swift answers again
    _wait_until(lambda: _objects_of(swift_main, module_container, image_id) == [], timeout=60)
    _round_trip(client, image_id)  # the same server, never restarted
    assert client.delete(f"/v2/images/{image_id}").status_code == 204


def test_swift_stopped_mid_download_cuts_the_download_and_recovers(
    client: httpx.Client, proxy: SwiftProxy, swift_main: SwiftProxy, module_container: str
) -> None:
    image_id = _new_image(client)
    _round_trip(client, image_id)
    with client.stream("GET", f"/v2/images/{image_id}/file") as download:
        assert download.status_code == 200
        assert download.headers["Content-Length"] == str(SIZE)
        received, cut = _read_stopping(download, proxy)
    assert received < SIZE
    assert isinstance(cut, httpx.RemoteProtocolError), cut  # never a complete-looking body

    later = client.get(f"/v2/images/{image_id}/file", headers={"Accept": "application/json"})
    assert later.status_code == 503 and later.headers["Retry-After"] == "30"
    assert _status(client, image_id) == "active"

    proxy.start()
    again = client.get(f"/v2/images/{image_id}/file")
    assert again.status_code == 200 and again.content == b"".join(pattern_stream(SIZE))
    assert client.delete(f"/v2/images/{image_id}").status_code == 204
    assert _objects_of(swift_main, module_container, image_id) == []
