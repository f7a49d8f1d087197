"""Hand-written bad input the fuzzer is unlikely to build: bytes that are not UTF-8,
header injection through property names, enormous numbers and ranges, path tricks.

``tests/security`` covers deep JSON, lone surrogates, huge and slow headers and
bodies, control characters in paths and the location rules; these are the rest.
Every answer must be a clear 4xx (or the right success), never a 5xx, and
nothing the bad request named may change.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.server import LiveServer

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
HUGE = 10**30
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("bad-input"), ["enable_v1_api = true"]).start()
    yield live
    live.stop()


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture
def image(http: httpx.Client) -> str:
    created = http.post(
        "/v2/images", json={"name": "bad-input", "disk_format": "raw", "container_format": "bare"}
    )
    assert created.status_code == 201
    image_id: str = created.json()["id"]
    assert (
        http.put(f"/v2/images/{image_id}/file", content=b"0123456789", headers=OCTETS).status_code
        == 204
    )
    return image_id


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v2/images", b'{"name": "\xff\xfe"}'),
        ("POST", "/v2/images", b'{"\xc3\x28": "x"}'),
        ("POST", "/v2/images/{id}/members", b'{"member": "\xe2\x82"}'),
        ("PATCH", "/v2/images/{id}", b'[{"op": "add", "path": "/a", "value": "\xed\xa0\x80"}]'),
        ("POST", "/v2/tasks", b'{"type": "import", "input": {"\xff": 1}}'),
    ],
)
def test_json_that_is_not_utf8_is_a_400(
    http: httpx.Client, image: str, method: str, path: str, body: bytes
) -> None:
    headers = PATCH if method == "PATCH" else {"Content-Type": "application/json"}
    answer = http.request(method, path.format(id=image), content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert http.get(f"/v2/images/{image}").json()["name"] == "bad-input"


@pytest.mark.parametrize(
    "headers",
    [
        {b"X-Image-Meta-Name": b"\xff\xfe"},
        {b"X-Image-Meta-Property-Name": b"\xff"},
        {b"X-Image-Meta-Property-Os": b"\xc3\x28"},
    ],
)
def test_v1_headers_that_are_not_utf8_are_a_400(
    http: httpx.Client, headers: dict[bytes, bytes]
) -> None:
    before = len(http.get("/v2/images").json()["images"])
    answer = http.post("/v1/images", headers=headers)
    assert answer.status_code == 400, answer.text
    assert len(http.get("/v2/images").json()["images"]) == before


def test_other_headers_that_are_not_utf8_do_not_break_a_request(http: httpx.Client) -> None:
    for name in ("Accept", "X-Openstack-Request-Id", "User-Agent", "Content-Type"):
        answer = http.get("/v2/images", headers={name.encode(): b"\xff\xfe\x80"})
        assert answer.status_code < 500, (name, answer.status_code)


def test_property_names_cannot_inject_response_headers(http: httpx.Client, image: str) -> None:
    """v1 answers with a header per property: a name or value with CR/LF must not split it."""
    changes = [
        {"op": "add", "path": "/x\r\nSet-Cookie: stolen=1", "value": "v"},
        {"op": "add", "path": "/plain", "value": "v\r\nX-Injected: 1"},
    ]
    answer = http.patch(f"/v2/images/{image}", json=changes, headers=PATCH)
    assert answer.status_code in (200, 400)
    head = http.head(f"/v1/images/{image}")
    assert head.status_code == 200
    assert "set-cookie" not in head.headers
    assert "x-injected" not in head.headers
    for name, value in head.headers.items():
        assert "\r" not in name + value and "\n" not in name + value


@pytest.mark.parametrize(
    ("field", "value"),
    [("min_ram", HUGE), ("min_disk", HUGE), ("min_ram", -1), ("min_disk", 2**31)],
)
def test_enormous_and_negative_numbers_are_a_400(
    http: httpx.Client, image: str, field: str, value: int
) -> None:
    changes = [{"op": "replace", "path": f"/{field}", "value": value}]
    assert http.patch(f"/v2/images/{image}", json=changes, headers=PATCH).status_code == 400
    assert http.get(f"/v2/images/{image}").json()[field] == 0
    created = http.post("/v2/images", json={field: value})
    assert created.status_code == 400


@pytest.mark.parametrize(
    "header",
    [
        "X-Image-Meta-Size",
        "X-Image-Meta-Min-Ram",
        "X-Image-Meta-Min-Disk",
    ],
)
@pytest.mark.parametrize("value", [str(HUGE), "-1", "1e9", "0x10"])
def test_v1_enormous_sizes_are_a_400(http: httpx.Client, header: str, value: str) -> None:
    assert http.post("/v1/images", headers={header: value}).status_code == 400


@pytest.mark.parametrize(
    ("range_header", "status", "body"),
    [
        (f"bytes=0-{HUGE}", 206, b"0123456789"),
        (f"bytes=-{HUGE}", 206, b"0123456789"),
        (f"bytes={HUGE}-", 416, b""),
        (f"bytes={HUGE}-{HUGE + 1}", 416, b""),
        ("bytes=5-2", 416, b""),
        ("bytes=-0", 416, b""),
    ],
)
def test_enormous_ranges_are_clamped_or_refused(
    http: httpx.Client, image: str, range_header: str, status: int, body: bytes
) -> None:
    answer = http.get(f"/v2/images/{image}/file", headers={"Range": range_header})
    assert answer.status_code == status, answer.text
    if status == 206:
        assert answer.content == body
        assert answer.headers["Content-Range"] == "bytes 0-9/10"


def test_an_upload_declaring_an_enormous_size_is_refused(http: httpx.Client) -> None:
    created = http.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    image_id = created.json()["id"]
    answer = http.put(
        f"/v2/images/{image_id}/file",
        content=b"x" * 10,
        headers={**OCTETS, "x-image-meta-size": str(HUGE)},
    )
    assert answer.status_code < 500
    shown = http.get(f"/v2/images/{image_id}").json()
    assert shown["status"] in ("queued", "active")
    assert shown["size"] in (None, 10)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/images/..%2F..%2Fetc%2Fpasswd",
        "/v2/images/%2e%2e/%2e%2e/etc/passwd",
        "/v2/images/%ff%fe",
        "/v2/images/{id}%2F..%2F{id}",
        "/v2/images/{id}/file%3B",
        "/v2/images/{id}/members/..%2F..",
        "/v2/images/{id}/tags/..%2F..%2Fx",
        "/v1/images/..%2F{id}",
    ],
)
def test_path_tricks_in_ids_find_nothing(http: httpx.Client, image: str, path: str) -> None:
    answer = http.get(path.format(id=image))
    assert answer.status_code in (400, 404, 405), (path, answer.status_code)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "file:///{datadir}/../../etc/passwd",
        "file:///{datadir}/%2e%2e/%2e%2e/etc/passwd",
        "file:///{datadir}/{id}",
        "http://127.0.0.1:1/../../etc/passwd",
        "swift+config://ref1/../../x",
    ],
)
def test_path_tricks_in_locations_never_expose_data(
    http: httpx.Client, server: LiveServer, url: str, image: str
) -> None:
    created = http.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    target = created.json()["id"]
    location = url.format(datadir=str(server.data_dir / "images").lstrip("/"), id=image)
    answer = http.post(
        f"/v2/images/{target}/locations", json={"url": location, "validation_data": {}}
    )
    assert 400 <= answer.status_code < 500, (location, answer.status_code, answer.text)
    assert http.get(f"/v2/images/{target}/file").status_code in (204, 403, 404)
    assert http.get(f"/v2/images/{image}/file").content == b"0123456789"
