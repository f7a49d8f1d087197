"""The real clients' import workflows against a live Spyglass server:
``glance image-create-via-import`` (glance-direct and web-download),
``glance image-stage`` + ``image-import``, ``openstack image create --import``
and openstacksdk's ``create_image(use_import=True)``, ``stage_image`` and
``import_image``."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import (
    BIN_DIR,
    CLI_TIMEOUT,
    Cli,
    Payload,
    assert_holds_payload,
    describe,
    property_table,
    server_image,
    table_rows,
    unique,
)
from tests.functional.webserver import Content, web_server
from tests.server import LiveServer

pytestmark = pytest.mark.compat
FORMATS = ("--disk-format", "raw", "--container-format", "bare")


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, int, Content]]:
    with web_server() as served:
        yield served


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, web: tuple[str, int, Content]
) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("import-clients")
    server = LiveServer(
        root / "server",
        [
            f"node_staging_uri = file://{root / 'staging'}",
            "enabled_import_methods = glance-direct,web-download,copy-image",
            "[import_filtering_opts]",
            "allowed_hosts = 127.0.0.1",
            f"allowed_ports = {web[1]}",
        ],
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield http


def _cli(name: str, args: tuple[str, ...], cli_env: tuple[Path, dict[str, str]]) -> Cli:
    executable = BIN_DIR / name
    if not executable.exists():
        pytest.skip(f"{name} is not installed in this venv (pip install -e '.[compat]')")
    return Cli(executable, args, *cli_env)


@pytest.fixture(scope="module")
def glance(server: LiveServer, cli_env: tuple[Path, dict[str, str]]) -> Cli:
    return _cli("glance", ("--os-image-url", server.url, "--os-auth-token", "x"), cli_env)


@pytest.fixture(scope="module")
def openstack_cli(server: LiveServer, cli_env: tuple[Path, dict[str, str]]) -> Cli:
    return _cli("openstack", ("--os-auth-type", "none", "--os-endpoint", server.url), cli_env)


def run_tty(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a terminal as stdin: glance takes any other stdin for image data
    and then refuses --file (or --uri) beside it."""
    leader, follower = os.openpty()
    command = [str(cli.executable), "--debug", *cli.global_args, *args]
    try:
        result = subprocess.run(
            command,
            cwd=cli.cwd,
            env=cli.env,
            stdin=follower,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
    finally:
        os.close(follower)
        os.close(leader)
    if result.returncode != 0:
        pytest.fail(describe(command, result), pytrace=False)
    return result


def wait_active(api: httpx.Client, image_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        image = server_image(api, image_id)
        if image["status"] == "active" or time.monotonic() > deadline:
            return image
        time.sleep(0.2)


def test_glance_image_create_via_import(glance: Cli, api: httpx.Client, payload: Payload) -> None:
    name = unique("via-import")
    result = run_tty(
        glance, "image-create-via-import", "--name", name, *FORMATS, "--file", str(payload.path)
    )
    image_id = property_table(result.stdout)["id"]
    wait_active(api, image_id)
    assert_holds_payload(api, image_id, payload)
    tasks = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
    assert tasks[0]["input"]["import_req"]["method"]["name"] == "glance-direct"


def test_glance_stage_then_import(glance: Cli, api: httpx.Client, payload: Payload) -> None:
    created = property_table(
        run_tty(glance, "image-create", "--name", unique("stage"), *FORMATS).stdout
    )
    image_id = created["id"]
    run_tty(glance, "image-stage", "--file", str(payload.path), image_id)
    assert server_image(api, image_id)["status"] == "uploading"
    glance.run("image-import", "--import-method", "glance-direct", image_id)
    wait_active(api, image_id)
    assert_holds_payload(api, image_id, payload)


def test_glance_web_download(
    glance: Cli, api: httpx.Client, payload: Payload, web: tuple[str, int, Content]
) -> None:
    host, port, content = web
    content.files["/client.img"] = payload.data
    uri = f"http://{host}:{port}/client.img"
    result = run_tty(
        glance, "image-create-via-import", "--name", unique("web"), *FORMATS,
        "--import-method", "web-download", "--uri", uri,
    )  # fmt: skip
    image_id = property_table(result.stdout)["id"]
    wait_active(api, image_id)
    assert_holds_payload(api, image_id, payload)


def test_glance_info_import(glance: Cli) -> None:
    methods = property_table(run_tty(glance, "import-info").stdout)["import-methods"]
    assert json.loads(methods)["value"] == ["glance-direct", "web-download", "copy-image"]


def test_openstack_image_create_import(
    openstack_cli: Cli, api: httpx.Client, payload: Payload
) -> None:
    name = unique("osc-import")
    openstack_cli.run("image", "create", "--import", *FORMATS, "--file", str(payload.path), name)
    found = api.get("/v2/images", params={"name": name}).json()["images"]
    assert len(found) == 1
    wait_active(api, found[0]["id"])
    assert_holds_payload(api, found[0]["id"], payload)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.usefixtures("_clean_environ")
def test_openstacksdk_import_calls(
    server: LiveServer, api: httpx.Client, payload: Payload, web: tuple[str, int, Content]
) -> None:
    openstack = pytest.importorskip("openstack", reason="openstacksdk is not installed")
    conn = openstack.connect(
        auth_type="none",
        image_endpoint_override=server.url,
        load_yaml_config=False,
        load_envvars=False,
    )
    try:
        created = conn.image.create_image(
            unique("sdk-import"),
            filename=str(payload.path),
            disk_format="raw",
            container_format="bare",
            use_import=True,
            wait=True,
            timeout=60,
        )
        wait_active(api, created.id)
        assert_holds_payload(api, created.id, payload)

        staged = conn.image.create_image(
            unique("sdk-stage"), disk_format="raw", container_format="bare"
        )
        conn.image.stage_image(staged, filename=str(payload.path))
        assert server_image(api, staged.id)["status"] == "uploading"
        conn.image.import_image(staged, method="glance-direct")
        wait_active(api, staged.id)
        assert_holds_payload(api, staged.id, payload)

        host, port, content = web
        content.files["/sdk.img"] = payload.data
        fetched = conn.image.create_image(
            unique("sdk-web"), disk_format="raw", container_format="bare"
        )
        conn.image.import_image(fetched, method="web-download", uri=f"http://{host}:{port}/sdk.img")
        wait_active(api, fetched.id)
        assert_holds_payload(api, fetched.id, payload)
        tasks = (
            list(conn.image.image_tasks(fetched.id)) if hasattr(conn.image, "image_tasks") else []
        )
        assert all(t for t in tasks)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("import-multi")
    server = LiveServer(
        root / "server",
        [
            "enabled_backends = fast:file, cheap:file",
            f"node_staging_uri = file://{root / 'staging'}",
            "[glance_store]",
            "default_backend = fast",
            "[os_glance_staging_store]",
            f"filesystem_store_datadir = {root / 'staging'}",
            "[fast]",
            f"filesystem_store_datadir = {root / 'fast'}",
            "[cheap]",
            f"filesystem_store_datadir = {root / 'cheap'}",
        ],
    ).start()
    yield server
    server.stop()


def test_glance_multi_store_import_copy_and_tasks(
    multi: LiveServer, cli_env: tuple[Path, dict[str, str]], payload: Payload
) -> None:
    glance = _cli("glance", ("--os-image-url", multi.url, "--os-auth-token", "x"), cli_env)
    with httpx.Client(base_url=multi.url, timeout=30, trust_env=False) as api:
        result = run_tty(
            glance, "image-create-via-import", "--name", unique("multi"), *FORMATS,
            "--file", str(payload.path), "--stores", "fast",
        )  # fmt: skip
        image_id = property_table(result.stdout)["id"]
        image = wait_active(api, image_id)
        assert image["stores"] == "fast"
        run_tty(
            glance, "image-import", "--import-method", "copy-image", "--stores", "cheap", image_id
        )
        deadline = time.monotonic() + 60
        while "cheap" not in server_image(api, image_id)["stores"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(server_image(api, image_id)["stores"].split(",")) == ["cheap", "fast"]
        rows = table_rows(run_tty(glance, "image-tasks", image_id).stdout)
        assert [row[1] for row in rows[1:]] == ["success", "success"]  # Message, Status, ...
