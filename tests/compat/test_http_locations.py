"""Remote image data through the real clients: a web server on loopback holds the bytes,
the server reaches it through the HTTP store and its outbound rules (opened to loopback
here), and what the clients download is byte-identical.

``glance location-add`` (a PATCH, with ``show_multiple_locations``) and ``glance
add-location`` (the v2.17 locations API) register v2 locations; ``glance
--os-image-api-version 1 image-create --location`` and ``--copy-from`` are v1's two ways.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import BIN_DIR, Cli, property_table, unique
from tests.compat.test_v1_clients import TerminalStdinCli
from tests.http_origin import HttpOrigin
from tests.server import LiveServer

pytestmark = pytest.mark.compat

DATA = random.Random(8).randbytes(4 * 1024 * 1024 + 17)
FORMATS = ("--disk-format", "raw", "--container-format", "bare")


@pytest.fixture(scope="module")
def remote() -> Iterator[HttpOrigin]:
    with HttpOrigin() as origin:
        origin.put("/images/disk.raw", DATA)
        yield origin


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose outbound rules reach loopback (any port), with locations shown."""
    config = (
        "show_multiple_locations = true",
        "[import_filtering_opts]",
        "allowed_ports =",
        "allowed_networks = 127.0.0.0/8",
    )
    server = LiveServer(tmp_path_factory.mktemp("remote-data"), config).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(open_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=open_server.url, timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def glance2(open_server: LiveServer, cli_env: tuple[Path, dict[str, str]]) -> Cli:
    """With a terminal as stdin: glance uploads a non-terminal stdin as the image's data."""
    home, env = cli_env
    args = ("--os-image-url", open_server.url, "--os-auth-token", "x")
    return TerminalStdinCli(BIN_DIR / "glance", args, home, env)


@pytest.fixture(scope="module")
def glance1(glance2: Cli) -> Cli:
    args = (*glance2.global_args, "--os-image-api-version", "1")
    return TerminalStdinCli(glance2.executable, args, glance2.cwd, glance2.env)


def _download_matches(cli: Cli, image_id: str, target: Path) -> None:
    cli.run("image-download", image_id, "--file", str(target))
    assert hashlib.sha512(target.read_bytes()).digest() == hashlib.sha512(DATA).digest()


def _image(http: httpx.Client, image_id: str) -> dict[str, Any]:
    image: dict[str, Any] = http.get(f"/v2/images/{image_id}").json()
    return image


def test_glance_location_add(
    glance2: Cli, http: httpx.Client, remote: HttpOrigin, tmp_path: Path
) -> None:
    url = remote.url("/images/disk.raw")
    created = property_table(glance2.run("image-create", "--name", unique("loc"), *FORMATS).stdout)
    image_id = created["id"]
    glance2.run("location-add", "--url", url, image_id)
    image = _image(http, image_id)
    assert (image["status"], image["size"]) == ("active", len(DATA))
    assert image["locations"] == [{"url": url, "metadata": {}}]
    _download_matches(glance2, image_id, tmp_path / "a.raw")
    glance2.run("image-delete", image_id)
    assert remote.resources["/images/disk.raw"].data == DATA


def test_glance_add_location(
    glance2: Cli, http: httpx.Client, remote: HttpOrigin, tmp_path: Path
) -> None:
    url = remote.url("/images/disk.raw")
    created = property_table(glance2.run("image-create", "--name", unique("loc"), *FORMATS).stdout)
    glance2.run("add-location", "--url", url, created["id"])
    assert _image(http, created["id"])["status"] == "active"
    _download_matches(glance2, created["id"], tmp_path / "b.raw")


def test_glance_v1_image_create_with_location(
    glance1: Cli, http: httpx.Client, remote: HttpOrigin, tmp_path: Path
) -> None:
    url = remote.url("/images/disk.raw")
    created = glance1.run("image-create", "--name", unique("v1-loc"), *FORMATS, "--location", url)
    shown = property_table(created.stdout)
    assert (shown["status"], shown["size"]) == ("active", str(len(DATA)))
    assert _image(http, shown["id"])["locations"] == [{"url": url, "metadata": {}}]
    _download_matches(glance1, shown["id"], tmp_path / "c.raw")


def test_glance_v1_image_create_with_copy_from(
    glance1: Cli, http: httpx.Client, remote: HttpOrigin, tmp_path: Path
) -> None:
    url = remote.url("/images/disk.raw")
    created = glance1.run("image-create", "--name", unique("v1-copy"), *FORMATS,
                          "--copy-from", url)  # fmt: skip
    image_id = property_table(created.stdout)["id"]
    deadline = time.monotonic() + 60
    while _image(http, image_id)["status"] not in ("active", "killed"):
        assert time.monotonic() < deadline, "the copy did not finish"
        time.sleep(0.1)
    image = _image(http, image_id)
    assert image["status"] == "active" and image["checksum"] == hashlib.md5(DATA).hexdigest()
    assert image["locations"][0]["url"].startswith("file://")
    _download_matches(glance1, image_id, tmp_path / "d.raw")


def test_glance_v1_refused_location_is_an_error(glance1: Cli) -> None:
    result = glance1.run("image-create", "--name", unique("v1-refused"), *FORMATS,
                         "--location", "http://169.254.169.254/latest/meta-data",
                         check=False)  # fmt: skip
    assert result.returncode != 0
    assert "400" in result.stderr or "private" in result.stderr + result.stdout
