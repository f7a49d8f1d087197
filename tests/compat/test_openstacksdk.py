"""openstacksdk's image proxy (``conn.image``) against a live Spyglass server.

``image_endpoint_override`` must be the *unversioned* root: the SDK runs version
discovery on it (``GET /`` -> 300 versions document). Upstream Glance answers 404 on
``GET /v2`` too, so ``URL + "/v2"`` fails discovery against either server.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import MakeImage, Payload, assert_holds_payload, server_image, unique
from tests.server import LiveServer

openstack = pytest.importorskip("openstack", reason="openstacksdk is not installed")
from openstack import exceptions as sdk_exceptions  # noqa: E402
from openstack.connection import Connection  # noqa: E402
from openstack.image.v2._proxy import Proxy as ImageProxy  # noqa: E402

pytestmark = [
    pytest.mark.compat,
    # openstacksdk 4.22 trips over its own deprecations; none is about this server:
    # connect() always warns about InfluxDB (it tests the truthiness of a dict whose keys
    # are always present), the Image resource still overrides _compute_attributes, the
    # image proxy passes service_type, and create_image() calls find_image() with the
    # deprecated ignore_missing=True.
    pytest.mark.filterwarnings("ignore:Support for InfluxDB:PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The _compute_attributes method:PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'service_type' parameter:PendingDeprecationWarning"),
    pytest.mark.filterwarnings(
        "ignore:The ignore_missing parameter of all find_:PendingDeprecationWarning"
    ),
]


@pytest.fixture(scope="module")
def conn(live_server: LiveServer, _clean_environ: None) -> Iterator[Connection]:
    connection: Connection = openstack.connect(
        auth_type="none",
        image_endpoint_override=live_server.url,
        load_yaml_config=False,  # ignore any clouds.yaml
        load_envvars=False,  # ignore any OS_* variable
    )
    yield connection
    connection.close()


@pytest.fixture
def images(conn: Connection) -> ImageProxy:
    """``conn.image``: the v2 proxy, as discovered from the versions document."""
    proxy = conn.image
    assert isinstance(proxy, ImageProxy)
    return proxy


def test_endpoint_discovery(images: ImageProxy, live_server: LiveServer) -> None:
    endpoint = images.get_endpoint()
    assert endpoint is not None
    assert endpoint.rstrip("/") == f"{live_server.url}/v2"


@pytest.mark.parametrize("source", ["bytes", "filename", "file-object"])
def test_create_image_uploads_data(
    images: ImageProxy, client: httpx.Client, cleanup: list[str], payload: Payload, source: str
) -> None:
    name = unique(f"sdk-{source}")
    # validate_checksum: the SDK re-reads the image and compares `checksum` with its md5.
    if source == "bytes":
        created = images.create_image(
            name,
            data=payload.data,
            validate_checksum=True,
            disk_format="raw",
            container_format="bare",
        )
    elif source == "filename":
        created = images.create_image(
            name,
            filename=str(payload.path),
            validate_checksum=True,
            disk_format="raw",
            container_format="bare",
        )
    else:
        with payload.path.open("rb") as stream:
            created = images.create_image(
                name, data=stream, disk_format="raw", container_format="bare"
            )
    cleanup.append(created.id)

    # With a plain PUT upload the SDK hands back the record as created (`wait` only
    # applies to task uploads), so read the image back through the SDK.
    image = images.get_image(created.id)
    assert image.name == name
    assert image.status == "active"
    assert image.size == payload.size
    assert image.checksum == payload.md5
    assert (image.hash_algo, image.hash_value) == ("sha512", payload.sha512)
    held = assert_holds_payload(client, image.id, payload)
    assert held["name"] == name
    assert (held["disk_format"], held["container_format"]) == ("raw", "bare")


def test_create_then_upload(
    images: ImageProxy, client: httpx.Client, cleanup: list[str], payload: Payload
) -> None:
    """The two-step form: an image record, then ``upload`` of its data."""
    image = images.create_image(
        unique("sdk-two-step"),
        disk_format="raw",
        container_format="bare",
        tags=["t"],
        allow_duplicates=True,
    )
    cleanup.append(image.id)
    assert image.status == "queued"

    image.data = payload.data
    response = image.upload(images)
    assert response.status_code == 204
    held = assert_holds_payload(client, image.id, payload)
    assert held["tags"] == ["t"]


def test_download_image(
    images: ImageProxy, make_image: MakeImage, payload: Payload, tmp_path: Path
) -> None:
    image_id = make_image(payload.data)["id"]

    # The SDK checks the data against os_hash_value (or checksum / Content-MD5) itself.
    whole = images.download_image(image_id)
    assert whole.content == payload.data

    streamed = images.download_image(image_id, stream=True)
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    for chunk in streamed.iter_content(chunk_size=64 * 1024):
        md5.update(chunk)
        sha512.update(chunk)
    assert (md5.hexdigest(), sha512.hexdigest()) == (payload.md5, payload.sha512)

    out = tmp_path / "downloaded.raw"
    images.download_image(image_id, output=str(out))
    assert out.read_bytes() == payload.data

    buffer = io.BytesIO()
    images.download_image(image_id, output=buffer)
    assert buffer.getvalue() == payload.data


def test_images_filters_and_pagination(
    images: ImageProxy, make_image: MakeImage, payload: Payload
) -> None:
    tag = unique("tag")
    tagged = [make_image(tags=[tag])["id"] for _ in range(3)]
    with_data = make_image(payload.data, name=unique("sdk-filter"))

    # limit=1 forces the SDK to follow the collection's `next` links.
    assert sorted(i.id for i in images.images(tag=tag, limit=1)) == sorted(tagged)
    assert [i.id for i in images.images(name=with_data["name"])] == [with_data["id"]]

    active_ids = {i.id for i in images.images(status="active")}
    assert with_data["id"] in active_ids
    assert not set(tagged) & active_ids

    by_size = {i.id for i in images.images(size_min=payload.size, size_max=payload.size)}
    assert with_data["id"] in by_size

    ordered = [i.name for i in images.images(tag=tag, sort="name:asc")]
    assert ordered == sorted(ordered)

    found = images.find_image(with_data["name"], ignore_missing=False)
    assert found.id == with_data["id"]


def test_update_image(images: ImageProxy, client: httpx.Client, make_image: MakeImage) -> None:
    image = make_image(existing="old")
    new_name = unique("sdk-renamed")

    updated = images.update_image(image["id"], name=new_name, min_disk=4, k="v", existing="new")
    assert updated.name == new_name
    assert updated.min_disk == 4
    assert updated.properties["k"] == "v"
    held = server_image(client, image["id"])
    assert (held["name"], held["min_disk"], held["k"], held["existing"]) == (
        new_name,
        4,
        "v",
        "new",
    )

    images.add_tag(image["id"], "one")
    images.add_tag(image["id"], "two")
    images.remove_tag(image["id"], "one")
    assert server_image(client, image["id"])["tags"] == ["two"]


def test_deactivate_and_reactivate_image(
    images: ImageProxy, client: httpx.Client, make_image: MakeImage, payload: Payload
) -> None:
    image_id = make_image(payload.data)["id"]
    images.deactivate_image(image_id)
    assert server_image(client, image_id)["status"] == "deactivated"

    images.reactivate_image(image_id)
    assert server_image(client, image_id)["status"] == "active"


def test_delete_image(
    images: ImageProxy, client: httpx.Client, make_image: MakeImage, payload: Payload
) -> None:
    image_id = make_image(payload.data)["id"]
    images.delete_image(image_id, ignore_missing=False)

    assert client.get(f"/v2/images/{image_id}").status_code == 404
    with pytest.raises(sdk_exceptions.NotFoundException):
        images.get_image(image_id)
    with pytest.raises(sdk_exceptions.NotFoundException):
        images.find_image(image_id, ignore_missing=False)
    with pytest.raises(sdk_exceptions.NotFoundException):
        images.delete_image(image_id, ignore_missing=False)
    images.delete_image(image_id)  # ignore_missing=True by default
