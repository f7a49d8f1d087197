"""python-openstackclient's ``openstack image ...`` commands against a live Spyglass server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import (
    Cli,
    MakeImage,
    Payload,
    assert_holds_payload,
    server_image,
    unique,
)

pytestmark = pytest.mark.compat

FORMATS = ("--disk-format", "raw", "--container-format", "bare")


def _json(cli: Cli, *args: str) -> Any:
    return json.loads(cli.run(*args, "-f", "json").stdout)


def _listed_ids(cli: Cli, *args: str) -> list[str]:
    return [row["ID"] for row in _json(cli, "image", "list", *args)]


def test_image_create_uploads_the_file(
    openstack_cli: Cli, client: httpx.Client, cleanup: list[str], payload: Payload
) -> None:
    name = unique("osc")
    created = _json(openstack_cli, "image", "create", *FORMATS, "--file", str(payload.path), name)
    cleanup.append(created["id"])

    assert created["name"] == name
    assert created["status"] == "active"
    assert created["size"] == payload.size
    assert created["checksum"] == payload.md5
    assert created["properties"]["os_hash_algo"] == "sha512"
    assert created["properties"]["os_hash_value"] == payload.sha512
    image = assert_holds_payload(client, created["id"], payload)
    assert (image["disk_format"], image["container_format"]) == ("raw", "bare")


def test_image_create_with_metadata(
    openstack_cli: Cli, client: httpx.Client, cleanup: list[str], payload: Payload
) -> None:
    name = unique("osc-meta")
    created = _json(
        openstack_cli, "image", "create", *FORMATS, "--min-disk", "2", "--min-ram", "256",
        "--private", "--protected", "--property", "hw_disk_bus=scsi",
        "--tag", "alpha", "--tag", "beta", "--file", str(payload.path), name,
    )  # fmt: skip
    cleanup.append(created["id"])
    image = assert_holds_payload(client, created["id"], payload)
    # Let the cleanup delete it.
    openstack_cli.run("image", "set", "--unprotected", created["id"])

    assert image["name"] == name
    assert (image["min_disk"], image["min_ram"]) == (2, 256)
    assert image["visibility"] == "private"
    assert image["protected"] is True
    assert image["hw_disk_bus"] == "scsi"
    assert sorted(image["tags"]) == ["alpha", "beta"]
    assert server_image(client, created["id"])["protected"] is False


def test_image_list_and_filters(openstack_cli: Cli, make_image: MakeImage) -> None:
    tag = unique("tag")
    tagged = [make_image(tags=[tag])["id"] for _ in range(3)]
    other = make_image(name=unique("osc-other"), hw_disk_bus="virtio")

    assert set(tagged) | {other["id"]} <= set(_listed_ids(openstack_cli))
    assert sorted(_listed_ids(openstack_cli, "--tag", tag)) == sorted(tagged)
    assert _listed_ids(openstack_cli, "--name", other["name"]) == [other["id"]]
    assert other["id"] in _listed_ids(openstack_cli, "--property", "hw_disk_bus=virtio")
    assert not set(tagged) & set(_listed_ids(openstack_cli, "--property", "hw_disk_bus=virtio"))

    long = _json(openstack_cli, "image", "list", "--long", "--name", other["name"])
    assert len(long) == 1
    assert long[0]["Disk Format"] == "raw"
    assert long[0]["Container Format"] == "bare"
    assert long[0]["Status"] == "queued"


def test_image_show(openstack_cli: Cli, make_image: MakeImage, payload: Payload) -> None:
    image = make_image(payload.data, hw_rng_model="virtio")
    shown = _json(openstack_cli, "image", "show", image["id"])

    assert shown["id"] == image["id"]
    assert shown["name"] == image["name"]
    assert shown["status"] == "active"
    assert shown["size"] == payload.size
    assert shown["checksum"] == payload.md5
    assert shown["properties"]["os_hash_value"] == payload.sha512
    assert shown["properties"]["hw_rng_model"] == "virtio"
    assert shown["visibility"] == image["visibility"]

    by_name = _json(openstack_cli, "image", "show", image["name"])
    assert by_name["id"] == image["id"]


def test_image_save_is_byte_identical(
    openstack_cli: Cli, make_image: MakeImage, payload: Payload, tmp_path: Path
) -> None:
    image = make_image(payload.data)
    out = tmp_path / "saved.raw"
    openstack_cli.run("image", "save", "--file", str(out), image["id"])

    data = out.read_bytes()
    assert data == payload.data
    assert hashlib.md5(data).hexdigest() == image["checksum"]
    assert hashlib.sha512(data).hexdigest() == image["os_hash_value"]


def test_image_set_and_unset(
    openstack_cli: Cli, client: httpx.Client, make_image: MakeImage
) -> None:
    image = make_image(existing="old")
    new_name = unique("osc-renamed")
    openstack_cli.run(
        "image", "set", "--name", new_name, "--property", "k=v", "--property", "existing=new",
        "--tag", "one", "--tag", "two", "--min-ram", "128", image["id"],
    )  # fmt: skip
    held = server_image(client, image["id"])
    assert held["name"] == new_name
    assert (held["k"], held["existing"]) == ("v", "new")
    assert sorted(held["tags"]) == ["one", "two"]
    assert held["min_ram"] == 128

    openstack_cli.run("image", "unset", "--property", "k", "--tag", "one", image["id"])
    held = server_image(client, image["id"])
    assert "k" not in held
    assert held["existing"] == "new"
    assert held["tags"] == ["two"]


def test_image_deactivate_and_activate(
    openstack_cli: Cli, client: httpx.Client, make_image: MakeImage, payload: Payload
) -> None:
    image = make_image(payload.data)
    openstack_cli.run("image", "set", "--deactivate", image["id"])
    assert server_image(client, image["id"])["status"] == "deactivated"

    openstack_cli.run("image", "set", "--activate", image["id"])
    assert server_image(client, image["id"])["status"] == "active"


def test_image_delete(
    openstack_cli: Cli, client: httpx.Client, make_image: MakeImage, payload: Payload
) -> None:
    first = make_image(payload.data)
    second = make_image()
    openstack_cli.run("image", "delete", first["id"], second["id"])

    for image in (first, second):
        assert client.get(f"/v2/images/{image['id']}").status_code == 404
    shown = openstack_cli.run("image", "show", first["id"], check=False)
    assert shown.returncode == 1
    assert f"No Image found for {first['id']}" in shown.stderr
