"""Interoperable import end to end on a real server: stage + glance-direct,
web-download against a local web server (allowed and every refusal), tasks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.functional.helpers import OCTET, create
from tests.functional.test_format_inspection import qcow2
from tests.functional.webserver import Content, web_server
from tests.server import LiveServer

DATA = bytes(range(256)) * 4096  # 1 MiB


def wait_for(client: httpx.Client, image_id: str, *statuses: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        image = client.get(f"/v2/images/{image_id}").json()
        if image["status"] in statuses:
            return image
        if time.monotonic() > deadline:
            raise AssertionError(f"image stayed {image['status']}: {image}")
        time.sleep(0.1)


def import_config(tmp_path: Path, port: int, *extra: str) -> list[str]:
    return [
        f"node_staging_uri = file://{tmp_path / 'staging'}",
        "enabled_import_methods = glance-direct,web-download,copy-image,glance-download",
        "image_size_cap = 4194304",
        *extra,
        "[import_filtering_opts]",
        "allowed_hosts = 127.0.0.1",
        f"allowed_ports = {port}",
        "read_timeout = 1.5",
        "connect_timeout = 2",
        "[task]",
        "lease_seconds = 3",
    ]


@pytest.fixture
def web() -> Iterator[tuple[str, int, Content]]:
    with web_server() as served:
        yield served


@pytest.fixture
def server(
    tmp_path: Path, web: tuple[str, int, Content], server_factory: Callable[..., LiveServer]
) -> LiveServer:
    return server_factory(*import_config(tmp_path, web[1]))


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield http


def staged_files(tmp_path: Path) -> list[str]:
    staging = tmp_path / "staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def stored_files(server: LiveServer) -> list[str]:
    images = server.data_dir / "images"
    return sorted(p.name for p in images.iterdir()) if images.exists() else []


def new_image(api: httpx.Client) -> str:
    return str(create(api, name="imp", disk_format="raw", container_format="bare")["id"])


def test_stage_then_glance_direct(api: httpx.Client, tmp_path: Path) -> None:
    image_id = new_image(api)
    staged = api.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTET)
    assert staged.status_code == 204, staged.text
    image = api.get(f"/v2/images/{image_id}").json()
    assert (image["status"], image["size"]) == ("uploading", len(DATA))
    assert staged_files(tmp_path) == [image_id]
    again = api.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTET)
    assert again.status_code == 409
    answer = api.post(f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}})
    assert answer.status_code == 202, answer.text
    image = wait_for(api, image_id, "active")
    assert image["size"] == len(DATA)
    assert image["virtual_size"] == len(DATA)
    assert "os_glance_import_task" not in image
    assert api.get(f"/v2/images/{image_id}/file").content == DATA
    assert staged_files(tmp_path) == []
    tasks = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
    assert [(t["type"], t["status"]) for t in tasks] == [("api_image_import", "success")]
    assert tasks[0]["result"] == {"image_id": image_id}
    assert tasks[0]["expires_at"] is not None


def test_import_checks(api: httpx.Client) -> None:
    image_id = new_image(api)
    url = f"/v2/images/{image_id}/import"
    assert api.post(url, json={"method": {"name": "glance-direct"}}).status_code == 409
    assert api.post(url, json={"method": {}}).status_code == 400
    assert api.post(url, json={"nomethod": 1}).status_code == 400
    assert api.post(url, json={"method": {"name": "bogus"}}).status_code == 400
    body = {"method": {"name": "glance-direct"}, "all_stores": "yes"}
    assert api.post(url, json=body).status_code == 400
    body = {"method": {"name": "web-download", "uri": "http://127.0.0.1:1/x"}}
    assert api.post(url, json=body).status_code == 400  # port not allowed
    body = {"method": {"name": "glance-download", "glance_region": "R", "glance_image_id": "x"}}
    assert api.post(url, json=body).status_code == 400
    body = {"method": {"name": "copy-image"}}
    assert api.post(url, json=body).status_code == 409
    bare = create(api, name="noformat")["id"]
    web = {"method": {"name": "web-download", "uri": "http://127.0.0.1:80/x"}}
    assert api.post(f"/v2/images/{bare}/import", json=web).status_code == 409
    partial: dict[str, object] = {
        "method": {"name": "glance-direct"},
        "all_stores_must_succeed": False,
    }
    staged = api.put(f"/v2/images/{image_id}/stage", content=b"abc", headers=OCTET)
    assert staged.status_code == 204
    assert api.post(url, json=partial).status_code == 400  # only with multiple stores


def test_web_download(
    api: httpx.Client, web: tuple[str, int, Content], tmp_path: Path, server: LiveServer
) -> None:
    host, port, content = web
    content.files["/disk.img"] = DATA
    image_id = new_image(api)
    body = {"method": {"name": "web-download", "uri": f"http://{host}:{port}/disk.img"}}
    answer = api.post(f"/v2/images/{image_id}/import", json=body)
    assert answer.status_code == 202, answer.text
    image = wait_for(api, image_id, "active")
    assert image["size"] == len(DATA) and image["os_hash_value"]
    assert api.get(f"/v2/images/{image_id}/file").content == DATA
    assert staged_files(tmp_path) == []
    assert stored_files(server) == [image_id]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/redirect-away", "The host localhost is not allowed"),
        ("/redirect-private", "The host 10.1.2.3 is not allowed"),
        ("/big.img", "more than 4194304"),
        ("/slow", "did not answer in time"),
        ("/die", "broke off"),
        ("/missing", "no data at the location"),
    ],
)
def test_web_download_failures(
    api: httpx.Client,
    web: tuple[str, int, Content],
    tmp_path: Path,
    server: LiveServer,
    path: str,
    why: str,
) -> None:
    host, port, content = web
    content.redirects["/redirect-away"] = f"http://localhost:{port}/disk.img"
    content.redirects["/redirect-private"] = "http://10.1.2.3/disk.img"
    content.files["/big.img"] = b"z" * (4 * 1024 * 1024 + 1)
    content.files["/slow"] = DATA
    content.slow_seconds = 4
    image_id = new_image(api)
    body = {"method": {"name": "web-download", "uri": f"http://{host}:{port}{path}"}}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    image = wait_for(api, image_id, "queued", "active")
    assert image["status"] == "queued"
    assert image["size"] is None and image["checksum"] is None
    assert "os_glance_import_task" not in image
    task = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"][0]
    assert task["status"] == "failure"
    assert why in task["message"]
    assert staged_files(tmp_path) == []
    assert stored_files(server) == []


def test_import_lock(api: httpx.Client, web: tuple[str, int, Content]) -> None:
    host, port, content = web
    content.files["/trickle.img"] = DATA
    content.trickle["/trickle.img"] = 0.05
    image_id = new_image(api)
    body = {"method": {"name": "web-download", "uri": f"http://{host}:{port}/trickle.img"}}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    image = api.get(f"/v2/images/{image_id}").json()
    assert image["status"] == "importing"
    assert image["os_glance_import_task"]
    second = api.post(f"/v2/images/{image_id}/import", json=body)
    assert second.status_code == 409
    wait_for(api, image_id, "active")


def test_tasks_api(api: httpx.Client, web: tuple[str, int, Content]) -> None:
    host, port, content = web
    content.files["/legacy.img"] = DATA
    missing = api.post("/v2/tasks", json={"type": "import"})
    assert missing.status_code == 400
    wrong = api.post("/v2/tasks", json={"type": "export", "input": {}})
    assert wrong.status_code == 400
    task_input = {
        "import_from": f"http://{host}:{port}/legacy.img",
        "import_from_format": "raw",
        "image_properties": {"name": "legacy", "disk_format": "raw", "container_format": "bare"},
    }
    created = api.post("/v2/tasks", json={"type": "import", "input": task_input})
    assert created.status_code == 201, created.text
    task = created.json()
    assert created.headers["location"] == f"/v2/tasks/{task['id']}"
    assert (task["type"], task["status"], task["input"]) == ("import", "pending", task_input)
    deadline = time.monotonic() + 30
    while task["status"] in ("pending", "processing") and time.monotonic() < deadline:
        time.sleep(0.1)
        task = api.get(f"/v2/tasks/{task['id']}").json()
    assert task["status"] == "success", task
    image = api.get(f"/v2/images/{task['result']['image_id']}").json()
    assert (image["name"], image["status"], image["size"]) == ("legacy", "active", len(DATA))
    listing = api.get("/v2/tasks").json()
    assert task["id"] in [t["id"] for t in listing["tasks"]]
    assert "input" not in listing["tasks"][0]
    assert listing["schema"] == "/v2/schemas/tasks"
    assert api.get("/v2/tasks?status=bogus").status_code == 400
    assert api.get("/v2/tasks?marker=notauuid").status_code == 400
    assert api.delete(f"/v2/tasks/{task['id']}").status_code == 405
    schema = api.get("/v2/schemas/task").json()
    assert schema["name"] == "task" and "input" in schema["properties"]
    assert (
        "input"
        not in api.get("/v2/schemas/tasks").json()["properties"]["tasks"]["items"]["properties"]
    )


def test_stage_refusals(api: httpx.Client, tmp_path: Path) -> None:
    qcow = create(api, name="q", disk_format="qcow2", container_format="bare")["id"]
    refused = api.put(f"/v2/images/{qcow}/stage", content=DATA, headers=OCTET)
    assert refused.status_code == 415  # not a qcow2
    assert api.get(f"/v2/images/{qcow}").json()["status"] == "queued"
    unsafe = api.put(
        f"/v2/images/{qcow}/stage", content=qcow2(backing_file=b"/etc/shadow"), headers=OCTET
    )
    assert unsafe.status_code == 415
    big = new_image(api)
    too_large = api.put(f"/v2/images/{big}/stage", content=b"x" * 4194305, headers=OCTET)
    assert too_large.status_code == 413
    assert api.get(f"/v2/images/{big}").json()["status"] == "queued"
    wrong_type = api.put(
        f"/v2/images/{big}/stage", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert staged_files(tmp_path) == []


def test_unsafe_download_is_refused(
    api: httpx.Client, web: tuple[str, int, Content], tmp_path: Path, server: LiveServer
) -> None:
    host, port, content = web
    content.files["/backed.qcow2"] = qcow2(backing_file=b"/etc/shadow")
    image_id = create(api, name="u", disk_format="qcow2", container_format="bare")["id"]
    body = {"method": {"name": "web-download", "uri": f"http://{host}:{port}/backed.qcow2"}}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    image = wait_for(api, image_id, "queued", "active")
    assert image["status"] == "queued"
    task = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"][0]
    assert "safety checks" in task["message"]
    assert staged_files(tmp_path) == []
    assert stored_files(server) == []


def test_delete_during_import(
    api: httpx.Client, web: tuple[str, int, Content], tmp_path: Path, server: LiveServer
) -> None:
    host, port, content = web
    content.files["/trickle.img"] = DATA
    content.trickle["/trickle.img"] = 0.1
    image_id = new_image(api)
    body = {"method": {"name": "web-download", "uri": f"http://{host}:{port}/trickle.img"}}
    assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
    time.sleep(0.5)
    assert api.delete(f"/v2/images/{image_id}").status_code == 204
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if api.get("/v2/tasks").json()["tasks"][0]["status"] == "failure":
            break
        time.sleep(0.2)
    assert api.get("/v2/tasks").json()["tasks"][0]["status"] == "failure"
    assert staged_files(tmp_path) == []
    assert stored_files(server) == []


def test_quota_holds_while_staging_and_downloading(
    tmp_path: Path, web: tuple[str, int, Content], server_factory: Callable[..., LiveServer]
) -> None:
    host, port, content = web
    content.files["/three.img"] = b"q" * (3 * 1024 * 1024)
    quota = import_config(tmp_path, port, "user_storage_quota = 2MB")
    server = server_factory(*quota)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
        staged = new_image(api)
        big = api.put(f"/v2/images/{staged}/stage", content=b"q" * (3 * 1024 * 1024), headers=OCTET)
        assert big.status_code == 413
        assert api.get(f"/v2/images/{staged}").json()["status"] == "queued"
        fetched = new_image(api)
        body = {"method": {"name": "web-download", "uri": f"http://{host}:{port}/three.img"}}
        assert api.post(f"/v2/images/{fetched}/import", json=body).status_code == 202
        image = wait_for(api, fetched, "queued", "active")
        assert image["status"] == "queued"
        task = api.get(f"/v2/images/{fetched}/tasks").json()["tasks"][0]
        assert "quota" in task["message"]
        small = new_image(api)
        assert api.put(f"/v2/images/{small}/stage", content=DATA, headers=OCTET).is_success
        assert (
            api.post(
                f"/v2/images/{small}/import", json={"method": {"name": "glance-direct"}}
            ).status_code
            == 202
        )
        assert wait_for(api, small, "active", "queued")["status"] == "active"
        usage = api.get("/v2/info/usage").json()["usage"]
        assert usage["image_size_total"]["usage"] == 1  # MiB
    assert staged_files(tmp_path) == []
