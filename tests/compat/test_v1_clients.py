"""The real Images API v1 clients against a live Spyglass server.

python-glanceclient still ships its v1 shell (``glance --os-image-api-version 1``),
python-openstackclient its v1 image commands, and openstacksdk its v1 image proxy
(``image_api_version='1'``). Each creates, lists, shows, updates, downloads and
deletes; what they store is checked over v2.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import (
    BIN_DIR,
    CLI_TIMEOUT,
    Cli,
    MakeImage,
    Payload,
    assert_holds_payload,
    describe,
    property_table,
    server_image,
    table_rows,
    unique,
)
from tests.server import LiveServer

pytestmark = pytest.mark.compat

FORMATS = ("--disk-format", "raw", "--container-format", "bare")


class TerminalStdinCli(Cli):
    """glance's v1 shell sends whatever its stdin holds as image data unless stdin is
    a terminal: run it with a pseudo-terminal as stdin, as a user at a shell would."""

    def run(
        self, *args: str, check: bool = True, stdin: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.executable), "--debug", *self.global_args, *args]
        primary, terminal = pty.openpty()
        try:
            result = subprocess.run(
                command, cwd=self.cwd, env=self.env, stdin=terminal, capture_output=True,
                text=True, timeout=CLI_TIMEOUT, check=False,
            )  # fmt: skip
        finally:
            os.close(primary)
            os.close(terminal)
        if check and result.returncode != 0:
            pytest.fail(describe(command, result), pytrace=False)
        return result


@pytest.fixture(scope="module")
def glance_v1(glance: Cli) -> Cli:
    args = (*glance.global_args, "--os-image-api-version", "1")
    return TerminalStdinCli(glance.executable, args, glance.cwd, glance.env)


@pytest.fixture(scope="module")
def openstack_v1(live_server: LiveServer, cli_env: tuple[Path, dict[str, str]]) -> Cli:
    """``openstack`` on v1's own endpoint (see ``sdk_v1`` for why not the root)."""
    args = ("--os-auth-type", "none", "--os-endpoint", f"{live_server.url}/v1/",
            "--os-image-api-version", "1")  # fmt: skip
    home, env = cli_env
    return Cli(BIN_DIR / "openstack", args, home, env)


def _ids(output: str) -> list[str]:
    return [row[0] for row in table_rows(output) if row and row[0] != "ID"]


# -- glance --os-image-api-version 1 ---------------------------------------------------------


def test_glance_v1_image_lifecycle(
    glance_v1: Cli, client: httpx.Client, cleanup: list[str], payload: Payload, tmp_path: Path
) -> None:
    name = unique("glance-v1")
    created = glance_v1.run(
        "image-create", "--name", name, *FORMATS, "--min-ram", "256",
        "--property", "os_distro=débian", "--property", "hw_disk_bus=ide",
        "--file", str(payload.path),
    )  # fmt: skip
    shown = property_table(created.stdout)
    image_id = shown["id"]
    cleanup.append(image_id)
    assert shown["status"] == "active" and shown["size"] == str(payload.size)
    assert shown["checksum"] == payload.md5
    image = assert_holds_payload(client, image_id, payload)
    assert image["name"] == name and image["min_ram"] == 256
    assert image["os_distro"] == "débian" and image["visibility"] == "shared"

    listed = glance_v1.run("image-list", "--name", name)
    assert _ids(listed.stdout) == [image_id]
    assert image_id in _ids(glance_v1.run("image-list", "--page-size", "1").stdout)

    show = property_table(glance_v1.run("image-show", image_id).stdout)
    assert show["name"] == name and show["Property 'hw_disk_bus'"] == "ide"
    # glanceclient reads response headers as Python's http.client decodes them (Latin-1),
    # so the UTF-8 that upstream and Spyglass send shows as such
    assert show["Property 'os_distro'"] == "débian".encode().decode("latin-1")
    assert show["is_public"] == "False" and show["checksum"] == payload.md5

    updated = glance_v1.run(
        "image-update", image_id, "--name", f"{name}-renamed", "--min-disk", "4",
        "--property", "hw_disk_bus=scsi",
    )  # fmt: skip
    assert property_table(updated.stdout)["name"] == f"{name}-renamed"
    after = server_image(client, image_id)
    assert (after["name"], after["min_disk"]) == (f"{name}-renamed", 4)
    assert after["hw_disk_bus"] == "scsi" and after["os_distro"] == "débian"

    target = tmp_path / "download.img"
    glance_v1.run("image-download", image_id, "--file", str(target))
    assert hashlib.sha512(target.read_bytes()).hexdigest() == payload.sha512

    glance_v1.run("image-delete", image_id)
    assert client.get(f"/v2/images/{image_id}").status_code == 404


def test_glance_v1_update_uploads_to_a_queued_image(
    glance_v1: Cli, client: httpx.Client, cleanup: list[str], payload: Payload
) -> None:
    created = property_table(glance_v1.run("image-create", "--name", unique("q"), *FORMATS).stdout)
    cleanup.append(created["id"])
    assert created["status"] == "queued"
    glance_v1.run("image-update", created["id"], "--file", str(payload.path))
    assert_holds_payload(client, created["id"], payload)


def test_glance_v1_members(glance_v1: Cli, client: httpx.Client, make_image: MakeImage) -> None:
    image = make_image(b"shared bytes", visibility="shared")
    glance_v1.run("member-create", image["id"], "project-b", "--can-share")
    glance_v1.run("member-create", image["id"], "project-c")
    rows = table_rows(glance_v1.run("member-list", "--image-id", image["id"]).stdout)
    assert sorted((r[0], r[1]) for r in rows[1:]) == [
        (image["id"], "project-b"),
        (image["id"], "project-c"),
    ]
    assert client.get(f"/v1/images/{image['id']}/members").json()["members"] == [
        {"member_id": "project-b", "can_share": True},
        {"member_id": "project-c", "can_share": False},
    ]
    members = client.get(f"/v2/images/{image['id']}/members").json()["members"]
    assert sorted(m["member_id"] for m in members) == ["project-b", "project-c"]
    by_tenant = table_rows(glance_v1.run("member-list", "--tenant-id", "project-c").stdout)
    assert [r[0] for r in by_tenant[1:]] == [image["id"]]
    glance_v1.run("member-delete", image["id"], "project-c")
    rows = table_rows(glance_v1.run("member-list", "--image-id", image["id"]).stdout)
    assert [r[1] for r in rows[1:]] == ["project-b"]


# -- openstack --os-image-api-version 1 ------------------------------------------------------


def _json(cli: Cli, *args: str) -> Any:
    return json.loads(cli.run(*args, "-f", "json").stdout)


def test_openstack_v1_image_create_fails_in_the_client(openstack_v1: Cli, payload: Payload) -> None:
    """python-openstackclient 10.5's v1 ``image create`` calls openstacksdk 4.22's v1
    ``create_image`` without ``wait``, which that method pops unconditionally: the command
    dies with ``KeyError: 'wait'`` before any request, against any server."""
    result = openstack_v1.run(
        "image", "create", *FORMATS, "--file", str(payload.path), unique("osc-v1"), check=False
    )
    assert result.returncode != 0 and "KeyError: 'wait'" in result.stderr
    assert "POST" not in result.stderr


def test_openstack_v1_list_show_set_save_delete(
    openstack_v1: Cli, client: httpx.Client, cleanup: list[str], payload: Payload, tmp_path: Path
) -> None:
    name = unique("osc-v1")
    headers = {"x-image-meta-name": name, "x-image-meta-disk-format": "raw",
               "x-image-meta-container-format": "bare", "x-image-meta-min-ram": "512",
               "Content-Type": "application/octet-stream"}  # fmt: skip
    created = client.post("/v1/images", headers=headers, content=payload.data)
    assert created.status_code == 201, created.text
    image_id = created.json()["image"]["id"]
    cleanup.append(image_id)

    listed = _json(openstack_v1, "image", "list")
    assert image_id in [i["ID"] for i in listed]
    # by name: openstacksdk's v1 lookup by id reads GET /v1/images/{id} as JSON, which
    # in v1 is the image's data (so it learns nothing but the id); by name it lists
    shown = _json(openstack_v1, "image", "show", name)
    assert (shown["id"], shown["name"], shown["is_public"]) == (image_id, name, False), shown
    assert shown["min_ram"] == 512

    openstack_v1.run("image", "set", "--name", f"{name}-2", "--min-disk", "3",
                     "--property", "hw_disk_bus=scsi", image_id)  # fmt: skip
    after = server_image(client, image_id)
    assert (after["name"], after["min_disk"], after["hw_disk_bus"]) == (f"{name}-2", 3, "scsi")

    target = tmp_path / "saved.img"
    openstack_v1.run("image", "save", "--file", str(target), image_id)
    assert hashlib.sha512(target.read_bytes()).hexdigest() == payload.sha512

    openstack_v1.run("image", "delete", image_id)
    assert client.get(f"/v2/images/{image_id}").status_code == 404


# -- openstacksdk, image_api_version='1' -----------------------------------------------------

openstack = pytest.importorskip("openstack", reason="openstacksdk is not installed")
from openstack.connection import Connection  # noqa: E402
from openstack.image.v1._proxy import Proxy as ImageV1Proxy  # noqa: E402


@pytest.fixture(scope="module")
def sdk_v1(live_server: LiveServer, _clean_environ: None) -> Iterator[ImageV1Proxy]:
    connection: Connection = openstack.connect(
        auth_type="none",
        # without a catalog keystoneauth ignores the version asked for on an unversioned
        # endpoint (it would pick v2): name v1's, which describes itself on GET /v1/
        image_endpoint_override=f"{live_server.url}/v1/",
        image_api_version="1",
        load_yaml_config=False,
        load_envvars=False,
    )
    proxy = connection.image
    assert isinstance(proxy, ImageV1Proxy)
    yield proxy
    connection.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_openstacksdk_v1_proxy(
    sdk_v1: ImageV1Proxy, client: httpx.Client, cleanup: list[str], payload: Payload
) -> None:
    name = unique("sdk-v1")
    created = sdk_v1.create_image(
        name, filename=str(payload.path), disk_format="raw", container_format="bare",
        wait=False, timeout=60, hw_disk_bus="virtio",
    )  # fmt: skip
    cleanup.append(created.id)
    image = assert_holds_payload(client, created.id, payload)
    assert image["name"] == name and image["hw_disk_bus"] == "virtio"

    assert created.id in [i.id for i in sdk_v1.images()]
    assert [i.id for i in sdk_v1.images(name=name)] == [created.id]
    # find_image lists by name; get_image(id) reads GET /v1/images/{id} as if it were
    # JSON, but in v1 that is the image's data, so it learns only the id (any server)
    shown = sdk_v1.find_image(name, ignore_missing=False)
    assert shown.id == created.id and shown.checksum == payload.md5
    assert shown.properties["hw_disk_bus"] == "virtio"
    assert sdk_v1.get_image(created.id).id == created.id

    updated = sdk_v1.update_image(created.id, name=f"{name}-2", min_disk=2)
    assert updated.name == f"{name}-2"
    after = server_image(client, created.id)
    assert (after["name"], after["min_disk"]) == (f"{name}-2", 2)

    reserved = sdk_v1.upload_image(name=unique("sdk-v1-reserved"), disk_format="raw",
                                   container_format="bare")  # fmt: skip
    cleanup.append(reserved.id)
    assert server_image(client, reserved.id)["status"] == "queued"

    sdk_v1.delete_image(created.id)
    assert client.get(f"/v2/images/{created.id}").status_code == 404
