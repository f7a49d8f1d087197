"""python-glanceclient's ``glance`` CLI (Images API v2) against a live Spyglass server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import (
    Cli,
    MakeImage,
    Payload,
    assert_holds_payload,
    property_table,
    server_image,
    table_rows,
    unique,
)

pytestmark = pytest.mark.compat

FORMATS = ("--disk-format", "raw", "--container-format", "bare")


def _listed_ids(output: str) -> list[str]:
    return [row[0] for row in table_rows(output) if row and row[0] != "ID"]


@pytest.mark.parametrize("source", ["file", "progress", "stdin"])
def test_image_create_uploads_the_data(
    glance: Cli, client: httpx.Client, cleanup: list[str], payload: Payload, source: str
) -> None:
    name = unique(f"glance-{source}")
    if source == "stdin":
        upload: tuple[str, ...] = ()
    else:
        upload = ("--file", str(payload.path), *(["--progress"] if source == "progress" else []))
    result = glance.run(
        "image-create", "--name", name, *FORMATS, *upload,
        stdin=payload.path if source == "stdin" else None,
    )  # fmt: skip
    shown = property_table(result.stdout)
    cleanup.append(shown["id"])

    assert shown["name"] == name
    assert shown["status"] == "active"
    assert shown["size"] == str(payload.size)
    assert shown["checksum"] == payload.md5
    assert shown["os_hash_value"] == payload.sha512
    image = assert_holds_payload(client, shown["id"], payload)
    assert image["name"] == name
    assert (image["disk_format"], image["container_format"]) == ("raw", "bare")


def test_image_create_with_metadata(
    glance: Cli, client: httpx.Client, cleanup: list[str], payload: Payload
) -> None:
    name = unique("glance-meta")
    result = glance.run(
        "image-create", "--name", name, *FORMATS, "--min-disk", "2", "--min-ram", "512",
        "--visibility", "private", "--tags", "alpha", "beta",
        "--property", "hw_disk_bus=scsi", "--property", "os=linux",
        "--file", str(payload.path),
    )  # fmt: skip
    image_id = property_table(result.stdout)["id"]
    cleanup.append(image_id)

    image = assert_holds_payload(client, image_id, payload)
    assert image["name"] == name
    assert (image["min_disk"], image["min_ram"]) == (2, 512)
    assert image["visibility"] == "private"
    assert sorted(image["tags"]) == ["alpha", "beta"]
    assert image["hw_disk_bus"] == "scsi"
    assert image["os"] == "linux"


def test_image_list_follows_pages_and_filters(glance: Cli, make_image: MakeImage) -> None:
    tag = unique("tag")
    made = [make_image(tags=[tag])["id"] for _ in range(3)]
    other = make_image(name=unique("untagged"))

    # --page-size 1 makes the client walk the `next` links of the collection.
    paged = glance.run("image-list", "--tag", tag, "--page-size", "1")
    assert sorted(_listed_ids(paged.stdout)) == sorted(made)

    everything = glance.run("image-list")
    assert set(made) | {other["id"]} <= set(_listed_ids(everything.stdout))

    by_name = glance.run("image-list", "--property-filter", f"name={other['name']}")
    assert table_rows(by_name.stdout)[1:] == [[other["id"], other["name"]]]


def test_image_show(
    glance: Cli, client: httpx.Client, make_image: MakeImage, payload: Payload
) -> None:
    image = make_image(payload.data, hw_rng_model="virtio")
    shown = property_table(glance.run("image-show", image["id"]).stdout)

    assert shown["id"] == image["id"]
    assert shown["name"] == image["name"]
    assert shown["status"] == "active"
    assert shown["size"] == str(payload.size)
    assert shown["checksum"] == payload.md5
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == payload.sha512
    assert shown["hw_rng_model"] == "virtio"
    assert shown["visibility"] == server_image(client, image["id"])["visibility"]


def test_image_download_is_byte_identical(
    glance: Cli, make_image: MakeImage, payload: Payload, tmp_path: Path
) -> None:
    image = make_image(payload.data)
    out = tmp_path / "downloaded.raw"
    # The client verifies the data against the image's os_hash_value while streaming.
    glance.run("image-download", image["id"], "--file", str(out))

    data = out.read_bytes()
    assert data == payload.data
    assert hashlib.md5(data).hexdigest() == image["checksum"]
    assert hashlib.sha512(data).hexdigest() == image["os_hash_value"]


def test_image_download_of_an_image_without_data(
    glance: Cli, make_image: MakeImage, tmp_path: Path
) -> None:
    image = make_image()
    out = tmp_path / "nothing.raw"
    result = glance.run("image-download", image["id"], "--file", str(out), check=False)

    assert result.returncode == 1, result.stderr[-2000:]
    assert f"Image {image['id']} has no data." in result.stderr
    assert not out.exists()


def test_image_update(glance: Cli, client: httpx.Client, make_image: MakeImage) -> None:
    image = make_image(keep="me", drop="me")
    new_name = unique("renamed")
    result = glance.run(
        "image-update", image["id"], "--name", new_name,
        "--property", "k=v", "--property", "keep=changed", "--min-disk", "3",
    )  # fmt: skip
    shown = property_table(result.stdout)
    assert (shown["name"], shown["k"], shown["keep"]) == (new_name, "v", "changed")

    held = server_image(client, image["id"])
    assert held["name"] == new_name
    assert (held["k"], held["keep"], held["drop"]) == ("v", "changed", "me")
    assert held["min_disk"] == 3

    glance.run("image-update", image["id"], "--remove-property", "drop")
    held = server_image(client, image["id"])
    assert "drop" not in held
    assert (held["k"], held["keep"]) == ("v", "changed")


def test_image_deactivate_and_reactivate(
    glance: Cli, client: httpx.Client, make_image: MakeImage, payload: Payload
) -> None:
    image = make_image(payload.data)
    glance.run("image-deactivate", image["id"])
    assert server_image(client, image["id"])["status"] == "deactivated"

    glance.run("image-reactivate", image["id"])
    assert server_image(client, image["id"])["status"] == "active"


def test_image_tags(glance: Cli, client: httpx.Client, make_image: MakeImage) -> None:
    image = make_image()
    glance.run("image-tag-update", image["id"], "one")
    glance.run("image-tag-update", image["id"], "two")
    glance.run("image-tag-update", image["id"], "two")  # idempotent
    assert sorted(server_image(client, image["id"])["tags"]) == ["one", "two"]

    glance.run("image-tag-delete", image["id"], "one")
    assert server_image(client, image["id"])["tags"] == ["two"]

    missing = glance.run("image-tag-delete", image["id"], "never-set", check=False)
    assert missing.returncode == 1
    assert "404 Not Found" in missing.stderr


def test_image_delete(
    glance: Cli, client: httpx.Client, make_image: MakeImage, payload: Payload
) -> None:
    image = make_image(payload.data)
    glance.run("image-delete", image["id"])

    assert client.get(f"/v2/images/{image['id']}").status_code == 404
    assert client.get(f"/v2/images/{image['id']}/file").status_code == 404
    shown = glance.run("image-show", image["id"], check=False)
    assert shown.returncode == 1
    assert "404 Not Found" in shown.stderr
    again = glance.run("image-delete", image["id"], check=False)
    assert again.returncode == 1
    assert f"No image with an ID of '{image['id']}' exists." in again.stderr
