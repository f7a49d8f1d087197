"""Images API v1 over a real socket: every ``/v1/images`` route, headers and their edge cases."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.backends import SUBSECOND
from tests.functional.helpers import create, upload
from tests.server import LiveServer

OCTET = {"Content-Type": "application/octet-stream"}
FORMATS = {"x-image-meta-disk-format": "raw", "x-image-meta-container-format": "bare"}
DATA = bytes(range(256)) * 40 + b"tail"


@pytest.fixture
def cleanup(client: httpx.Client) -> Iterator[list[str]]:
    ids: list[str] = []
    yield ids
    for image_id in ids:
        client.delete(f"/v2/images/{image_id}")


MakeV1 = Callable[..., dict[str, Any]]


@pytest.fixture
def make_v1(client: httpx.Client, cleanup: list[str]) -> MakeV1:
    """POST /v1/images with headers (and data); returns the created image's JSON."""

    def make(data: bytes | None = None, **headers: Any) -> dict[str, Any]:
        sent = {"x-image-meta-name": f"v1-{uuid.uuid4().hex[:8]}", **headers}
        if data is not None:
            sent = {**FORMATS, **OCTET, **sent}
        response = client.post("/v1/images", headers=sent, content=data)
        assert response.status_code == 201, response.text
        image: dict[str, Any] = response.json()["image"]
        cleanup.append(image["id"])
        return image

    return make


def meta_headers(response: httpx.Response) -> dict[str, str]:
    """The ``x-image-meta-*`` headers of a response, values decoded as UTF-8."""
    return {
        k.decode().lower(): v.decode("utf-8")
        for k, v in response.headers.raw
        if k.lower().startswith(b"x-image-meta-")
    }


# -- create, show, download ----------------------------------------------------------------


def test_create_with_data_is_active_and_round_trips(client: httpx.Client, make_v1: MakeV1) -> None:
    md5 = hashlib.md5(DATA).hexdigest()
    image = make_v1(
        DATA,
        **{"x-image-meta-min-ram": "128", "x-image-meta-property-os-distro": "debian"},
        **{"x-image-meta-size": str(len(DATA)), "x-image-meta-checksum": md5},
    )
    assert image["status"] == "active"
    assert (image["size"], image["checksum"]) == (len(DATA), md5)
    assert image["is_public"] is False and image["deleted"] is False
    assert image["properties"] == {"os_distro": "debian"}
    assert image["min_ram"] == 128 and image["deleted_at"] is None
    assert len(image["created_at"]) == len("2026-01-01T00:00:00.000000")

    head = client.head(f"/v1/images/{image['id']}")
    assert head.status_code == 200 and head.content == b""
    meta = meta_headers(head)
    assert meta["x-image-meta-id"] == image["id"]
    assert meta["x-image-meta-status"] == "active"
    assert meta["x-image-meta-size"] == str(len(DATA))
    assert meta["x-image-meta-is_public"] == "False"
    assert meta["x-image-meta-property-os_distro"] == "debian"
    assert head.headers["etag"] == md5
    assert not any("location" in k for k in meta)

    got = client.get(f"/v1/images/{image['id']}")
    assert got.status_code == 200 and got.content == DATA
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-length"] == str(len(DATA))
    assert meta_headers(got)["x-image-meta-checksum"] == md5


def test_create_reserves_a_queued_image_and_put_uploads(
    client: httpx.Client, make_v1: MakeV1
) -> None:
    image = make_v1(**FORMATS)
    assert image["status"] == "queued" and image["size"] == 0
    assert client.get(f"/v1/images/{image['id']}").status_code == 404  # no data yet
    put = client.put(f"/v1/images/{image['id']}", content=DATA, headers=OCTET)
    assert put.status_code == 200, put.text
    assert put.json()["image"]["status"] == "active"
    assert client.get(f"/v1/images/{image['id']}").content == DATA
    again = client.put(f"/v1/images/{image['id']}", content=DATA, headers=OCTET)
    assert again.status_code == 409


def test_create_response_has_location(client: httpx.Client, cleanup: list[str]) -> None:
    response = client.post("/v1/images", headers={"x-image-meta-name": "loc"})
    assert response.status_code == 201
    image_id = response.json()["image"]["id"]
    cleanup.append(image_id)
    assert response.headers["location"] == f"{client.base_url}/v1/images/{image_id}"


def test_checksum_mismatch_kills_the_image(client: httpx.Client, cleanup: list[str]) -> None:
    image_id = str(uuid.uuid4())
    cleanup.append(image_id)
    headers = {**FORMATS, **OCTET, "x-image-meta-id": image_id, "x-image-meta-checksum": "0" * 32}
    response = client.post("/v1/images", headers=headers, content=DATA)
    assert response.status_code == 400
    assert "checksum" in response.text.lower()
    head = client.head(f"/v1/images/{image_id}")
    assert head.headers["x-image-meta-status"] == "killed"


def test_size_mismatch_kills_the_image(client: httpx.Client, cleanup: list[str]) -> None:
    image_id = str(uuid.uuid4())
    cleanup.append(image_id)
    headers = {**FORMATS, **OCTET, "x-image-meta-id": image_id, "x-image-meta-size": "10"}
    response = client.post("/v1/images", headers=headers, content=DATA)
    assert response.status_code == 400
    assert client.head(f"/v1/images/{image_id}").headers["x-image-meta-status"] == "killed"
    assert client.get(f"/v2/images/{image_id}").json()["status"] == "killed"


def test_data_needs_formats_and_octet_stream(client: httpx.Client) -> None:
    missing = client.post("/v1/images", headers=OCTET, content=DATA)
    assert missing.status_code == 400 and "format" in missing.text
    text = client.post(
        "/v1/images", headers={**FORMATS, "Content-Type": "text/plain"}, content=DATA
    )
    assert text.status_code == 400 and "octet-stream" in text.text


def test_declared_size_over_the_cap_is_400(client: httpx.Client) -> None:
    headers = {**FORMATS, "x-image-meta-size": str(2**41)}
    response = client.post("/v1/images", headers={**headers, **OCTET}, content=b"x")
    assert response.status_code == 400


def test_empty_image_downloads_empty(client: httpx.Client, make_v1: MakeV1) -> None:
    image = make_v1(b"", **{"x-image-meta-size": "0"})
    assert image["status"] == "active" and image["size"] == 0
    got = client.get(f"/v1/images/{image['id']}")
    assert got.status_code == 200 and got.content == b""


# -- headers: unicode, bad input -------------------------------------------------------------


def test_unicode_property_values_round_trip(client: httpx.Client, make_v1: MakeV1) -> None:
    value = "Ubuntu 22.04 — ünïcødé 日本"
    image = make_v1(**{"x-image-meta-property-distro": value.encode()})
    assert image["properties"]["distro"] == value
    head = client.head(f"/v1/images/{image['id']}")
    assert meta_headers(head)["x-image-meta-property-distro"] == value
    assert client.get(f"/v2/images/{image['id']}").json()["distro"] == value
    name = "nämé-ß"
    put = client.put(f"/v1/images/{image['id']}", headers=[(b"x-image-meta-name", name.encode())])
    assert put.status_code == 200 and put.json()["image"]["name"] == name


def test_unicode_property_names_from_v2_are_readable_in_v1(
    client: httpx.Client, cleanup: list[str]
) -> None:
    image = create(client, **{"größe": "groß", "plain": "ok", "multi": "a\nb"})
    cleanup.append(image["id"])
    detail = client.get("/v1/images/detail", params={"name": image["name"] or ""})
    head = client.head(f"/v1/images/{image['id']}")
    assert head.status_code == 200
    meta = meta_headers(head)
    assert meta["x-image-meta-property-plain"] == "ok"
    # not an HTTP token / not a header value: left out of headers, kept in JSON
    assert not any("gr" in k for k in meta) and "x-image-meta-property-multi" not in meta
    assert detail.status_code == 200
    put = client.put(
        f"/v1/images/{image['id']}",
        headers={"x-glance-registry-purge-props": "false", "x-image-meta-min-disk": "1"},
    )
    assert put.json()["image"]["properties"]["größe"] == "groß"


def test_property_names_with_dashes_become_underscores(
    client: httpx.Client, make_v1: MakeV1
) -> None:
    image = make_v1(**{"X-Image-Meta-Property-Hw-Disk-Bus": "scsi", "x-image-meta-min_disk": "2"})
    assert image["properties"] == {"hw_disk_bus": "scsi"} and image["min_disk"] == 2


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"x-image-meta-colour": "blue"}, "x-image-meta-colour"),
        ({"x-image-meta-size": "-1"}, "non-negative"),
        ({"x-image-meta-min-ram": "lots"}, "non-negative"),
        ({"x-image-meta-min-disk": "1.5"}, "non-negative"),
        ({"x-image-meta-virtual-size": "big"}, "integer"),
        ({"x-image-meta-name": "n" * 256}, ""),
        ({"x-image-meta-disk-format": "floppy"}, ""),
        ({"x-image-meta-disk-format": "aki", "x-image-meta-container-format": "bare"}, "aki"),
        ({"x-image-meta-checksum": "c" * 33}, "checksum"),
        ({"x-image-meta-store": "tape"}, "tape"),
        ({"x-image-meta-location": "http://127.0.0.1/x.img"}, "Disk format"),
        ({"x-image-meta-location": "file:///etc/passwd", **FORMATS}, "local"),
        ({"x-image-meta-location": "gopher://127.0.0.1/x", **FORMATS}, "gopher"),
        ({"x-glance-api-copy-from": "file:///etc/passwd", **FORMATS}, "http and https"),
        ({"x-glance-api-copy-from": "http://127.0.0.1:1/x.img", **FORMATS}, "port 1"),
        ({"x-glance-api-copy-from": "http://127.0.0.1/x.img", **FORMATS}, "private address"),
        (
            {"x-glance-api-copy-from": "http://a/x", "x-image-meta-location": "http://b/x"},
            "not both",
        ),
        ({"x-image-meta-property-visibility": "public"}, "core"),
        ({"x-image-meta-name": b"\xff\xfe"}, "UTF-8"),
    ],
)
def test_bad_headers_are_400(client: httpx.Client, headers: dict[str, Any], fragment: str) -> None:
    response = client.post("/v1/images", headers=headers)
    assert response.status_code == 400, response.text
    assert fragment in response.text


def test_repeated_headers_are_400(client: httpx.Client) -> None:
    pairs = [("x-image-meta-name", "a"), ("x-image-meta-name", "b")]
    response = client.post("/v1/images", headers=pairs)
    assert response.status_code == 400 and "only once" in response.text
    spelled = [("x-image-meta-min-ram", "1"), ("x-image-meta-min_ram", "2")]
    assert client.post("/v1/images", headers=spelled).status_code == 400
    props = [("x-image-meta-property-a", "1"), ("x-image-meta-property-a", "2")]
    assert client.post("/v1/images", headers=props).status_code == 400


def test_oversized_headers_are_refused_not_500(client: httpx.Client) -> None:
    huge = {"x-image-meta-property-big": "v" * 70_000}
    assert client.post("/v1/images", headers=huge).status_code in (400, 431)
    many = {f"x-image-meta-property-p{i}": "v" for i in range(200)}
    assert client.post("/v1/images", headers=many).status_code == 413  # property quota


def test_booleans_are_read_leniently_as_upstream(client: httpx.Client, make_v1: MakeV1) -> None:
    assert make_v1(**{"x-image-meta-protected": "yes"})["protected"] is True
    image = make_v1(**{"x-image-meta-protected": "maybe", "x-image-meta-is-public": "nope"})
    assert image["protected"] is False and image["is_public"] is False


def test_body_on_get_is_400(client: httpx.Client, make_v1: MakeV1) -> None:
    image = make_v1(DATA)
    response = client.request("GET", f"/v1/images/{image['id']}", content=b"body")
    assert response.status_code == 400
    assert client.request("GET", "/v1/images", content=b"body").status_code == 400


# -- update ----------------------------------------------------------------------------------


def test_put_replaces_properties_unless_told_not_to(client: httpx.Client, make_v1: MakeV1) -> None:
    image = make_v1(**{"x-image-meta-property-a": "1", "x-image-meta-property-b": "2"})
    url = f"/v1/images/{image['id']}"
    kept = client.put(url, headers={"x-glance-registry-purge-props": "false",
                                    "x-image-meta-property-c": "3"})  # fmt: skip
    assert kept.json()["image"]["properties"] == {"a": "1", "b": "2", "c": "3"}
    purged = client.put(url, headers={"x-image-meta-property-a": "9"})
    assert purged.json()["image"]["properties"] == {"a": "9"}
    renamed = client.put(
        url, headers={"x-image-meta-name": "renamed", "x-image-meta-property-a": "9"}
    )
    assert renamed.status_code == 200 and renamed.json()["image"]["name"] == "renamed"


def test_put_refuses_status_id_and_size_changes(client: httpx.Client, make_v1: MakeV1) -> None:
    image = make_v1(DATA)
    url = f"/v1/images/{image['id']}"
    assert client.put(url, headers={"x-image-meta-status": "queued"}).status_code == 403
    assert client.put(url, headers={"x-image-meta-id": str(uuid.uuid4())}).status_code == 403
    assert client.put(url, headers={"x-image-meta-size": "1"}).status_code == 403
    same = client.put(url, headers={"x-image-meta-status": "active", **FORMATS})
    assert same.status_code == 200  # restating is not changing
    assert client.put(url, headers={"x-image-meta-disk-format": "qcow2"}).status_code == 403


def test_put_unknown_image_is_404(client: httpx.Client) -> None:
    assert (
        client.put(f"/v1/images/{uuid.uuid4()}", headers={"x-image-meta-name": "x"}).status_code
        == 404
    )
    assert client.head(f"/v1/images/{uuid.uuid4()}").status_code == 404


# -- delete ----------------------------------------------------------------------------------


def test_delete_is_200_and_protected_is_403(client: httpx.Client, make_v1: MakeV1) -> None:
    image = make_v1(DATA)
    assert client.delete(f"/v1/images/{image['id']}").status_code == 200
    assert client.head(f"/v1/images/{image['id']}").status_code == 404
    assert client.delete(f"/v1/images/{image['id']}").status_code == 404
    protected = make_v1(**{"x-image-meta-protected": "true"})
    assert client.delete(f"/v1/images/{protected['id']}").status_code == 403
    client.put(f"/v1/images/{protected['id']}", headers={"x-image-meta-protected": "false"})


# -- listing ---------------------------------------------------------------------------------


def test_list_brief_and_detail(client: httpx.Client, make_v1: MakeV1) -> None:
    tag = uuid.uuid4().hex[:8]
    image = make_v1(DATA, **{"x-image-meta-property-batch": tag})
    brief = client.get("/v1/images", params={"property-batch": tag}).json()["images"]
    assert brief == [{k: image[k] for k in ("id", "name", "size", "disk_format",
                                            "container_format", "checksum")}]  # fmt: skip
    detail = client.get("/v1/images/detail", params={"property-batch": tag}).json()["images"]
    assert detail[0]["properties"] == {"batch": tag} and detail[0]["status"] == "active"
    assert client.get("/v1/", params={"property-batch": tag}).json()["images"] == brief
    assert client.head("/v1/images/detail").status_code == 405


@pytest.mark.backends(*SUBSECOND)  # made within a second: newest-first needs fractions
def test_list_filters_sorting_and_paging(client: httpx.Client, make_v1: MakeV1) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [
        make_v1(b"a" * size, **{"x-image-meta-property-batch": tag,
                                "x-image-meta-name": f"{tag}-{size}"})
        for size in (10, 20, 30)
    ]  # fmt: skip
    ids = [i["id"] for i in made]

    def listed(**params: Any) -> list[str]:
        response = client.get("/v1/images/detail", params={"property-batch": tag, **params})
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["images"]]

    assert listed() == ids[::-1]
    assert listed(sort_key="size", sort_dir="asc") == ids
    assert listed(sort_key="name", sort_dir="desc") == ids[::-1]
    assert listed(size_min="15", size_max="25") == [ids[1]]
    assert listed(name=f"{tag}-30") == [ids[2]]
    assert listed(disk_format="raw", container_format="bare", status="active") == ids[::-1]
    assert listed(disk_format="qcow2") == []
    assert listed(limit="2", sort_key="size", sort_dir="asc") == ids[:2]
    assert listed(limit="2", sort_key="size", sort_dir="asc", marker=ids[1]) == [ids[2]]
    # an admin of no project (noauth) sees everything by default; is_public narrows it
    assert listed(is_public="true") == []
    assert listed(is_public="false") == listed(is_public="none") == ids[::-1]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "-1"},
        {"limit": "ten"},
        {"marker": "not-a-uuid"},
        {"marker": str(uuid.uuid4())},
        {"sort_key": "owner"},
        {"sort_dir": "up"},
        {"size_min": "-5"},
        {"size_max": "x"},
        {"min_ram": "-1"},
        {"protected": "perhaps"},
        {"is_public": "sometimes"},
        {"changes-since": "yesterday"},
        {"changes-since": "1850-01-01T00:00:00"},
        {"name": "a\x00b"},
    ],
)
def test_bad_list_parameters_are_400(client: httpx.Client, params: dict[str, str]) -> None:
    response = client.get("/v1/images/detail", params=params)
    assert response.status_code == 400, response.text


def test_changes_since_includes_deleted_images(client: httpx.Client, make_v1: MakeV1) -> None:
    before = client.get("/v1/images/detail", params={"limit": "1"}).json()
    since = "2000-01-01T00:00:00"
    image = make_v1(DATA)
    assert client.delete(f"/v1/images/{image['id']}").status_code == 200
    changed = client.get(
        "/v1/images/detail", params={"changes-since": since, "name": image["name"]}
    ).json()["images"]
    assert [i["id"] for i in changed] == [image["id"]]
    assert changed[0]["deleted"] is True and changed[0]["status"] == "deleted"
    assert changed[0]["deleted_at"] is not None
    assert image["id"] not in [i["id"] for i in before["images"]]
    plain = client.get("/v1/images/detail", params={"name": image["name"]}).json()["images"]
    assert plain == []
    deleted = client.get("/v1/images/detail", params={"deleted": "true", "name": image["name"]})
    assert [i["id"] for i in deleted.json()["images"]] == [image["id"]]


def test_percent_encoded_unicode_names_and_values(client: httpx.Client, make_v1: MakeV1) -> None:
    """python-glanceclient %-encodes header names and values (UTF-8) before sending."""
    image = make_v1(**{"x-image-meta-property-gr%C3%B6%C3%9Fe": "gro%C3%9F%20und%25"})
    assert image["properties"] == {"größe": "groß und%"}
    assert client.get(f"/v2/images/{image['id']}").json()["größe"] == "groß und%"
    bad = client.post("/v1/images", headers={"x-image-meta-property-x": "%FF"})
    assert bad.status_code == 400


# -- versions --------------------------------------------------------------------------------


def test_versions_list_v1_beside_v2(client: httpx.Client) -> None:
    ids = [v["id"] for v in client.get("/versions").json()["versions"]]
    assert ids[-2:] == ["v1.1", "v1.0"] and "v2.0" in ids
    root = client.get("/")
    assert root.status_code == 300
    v1 = [v for v in root.json()["versions"] if v["id"].startswith("v1")]
    assert all(v["status"] == "SUPPORTED" and v["links"][0]["href"].endswith("/v1/") for v in v1)
    for prefix in ("/v1", "/v1.0", "/v1.1"):
        assert client.get(f"{prefix}/images").status_code == 200, prefix
    assert client.get("/v1.2/images").status_code == 300


def test_v1_off_answers_the_versions_document(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory("enable_v1_api = false")
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        ids = [v["id"] for v in http.get("/versions").json()["versions"]]
        assert not any(i.startswith("v1") for i in ids)
        assert http.get("/v1/images").status_code == 300
        assert http.get("/v2/images").status_code == 200


def test_v2_off_keeps_v1(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("enable_v2_api = false")
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        ids = [v["id"] for v in http.get("/versions").json()["versions"]]
        assert ids == ["v1.1", "v1.0"]
        assert http.get("/v2/images").status_code == 300
        assert http.get("/v1/images").status_code == 200


def test_v2_upload_reads_through_v1(client: httpx.Client, cleanup: list[str]) -> None:
    image = create(client, name="v2-made", disk_format="raw", container_format="bare")
    cleanup.append(image["id"])
    assert upload(client, image["id"], DATA).status_code == 204
    got = client.get(f"/v1/images/{image['id']}")
    assert got.content == DATA
    assert got.headers["x-image-meta-checksum"] == hashlib.md5(DATA).hexdigest()


# -- what openstacksdk's v1 proxy needs beyond upstream's v1 ----------------------------------


def test_json_documents_carry_metadata(client: httpx.Client, cleanup: list[str]) -> None:
    flat = {"name": "sdk", "disk_format": "raw", "container_format": "bare",
            "properties": {"a": "1"}, "validate_checksum": True}  # fmt: skip
    created = client.post("/v1/images", json=flat)
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    cleanup.append(image["id"])
    assert (image["name"], image["properties"]) == ("sdk", {"a": "1"})
    url = f"/v1/images/{image['id']}"
    wrapped = client.put(url, json={"image": {"min_ram": 64, "b": "2", "is_public": False}})
    assert wrapped.status_code == 200, wrapped.text
    assert wrapped.json()["image"]["properties"] == {"a": "1", "b": "2"}  # nothing purged
    assert wrapped.json()["image"]["min_ram"] == 64
    assert client.put(url, json={"image": {"min_ram": -1}}).status_code == 400
    assert client.put(url, json=["not", "an", "object"]).status_code == 400


def test_file_path_and_v1_root_for_the_sdk(client: httpx.Client, make_v1: MakeV1) -> None:
    image = make_v1(DATA)
    got = client.get(f"/v1/images/{image['id']}/file")
    assert got.content == DATA and got.headers["content-md5"] == image["checksum"]
    root = client.get("/v1/").json()
    assert root["version"]["id"] == "v1.1" and "images" in root
    assert client.get("/v1").json()["version"]["links"][0]["href"].endswith("/v1/")
