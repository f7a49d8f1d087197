"""A server killed (-9) in the middle of an import: after a restart the task is
claimed again and finishes, or, when its attempts are used up, the image goes
back to ``queued`` with the reason in the task. Never stuck ``importing``."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import DIRECT
from tests.functional.helpers import OCTET, create
from tests.functional.test_import import DATA, import_config, wait_for
from tests.functional.webserver import Content, web_server
from tests.server import LiveServer, free_port

pytestmark = pytest.mark.backends(*DIRECT, "postgresql-registry")


@pytest.fixture
def web() -> Iterator[tuple[str, int, Content]]:
    with web_server() as served:
        content = served[2]
        content.files["/slow.img"] = DATA
        content.trickle["/slow.img"] = 0.15  # 16 pieces: about 2.4 s
        yield served


def start_import(server: LiveServer, web: tuple[str, int, Content]) -> str:
    host, port, content = web
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
        image_id = str(create(api, name="k", disk_format="raw", container_format="bare")["id"])
        body = {"method": {"name": "web-download", "uri": f"http://{host}:{port}/slow.img"}}
        assert api.post(f"/v2/images/{image_id}/import", json=body).status_code == 202
        deadline = time.monotonic() + 10
        while not content.hits.get("/slow.img") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # well into the download
        assert api.get(f"/v2/images/{image_id}").json()["status"] == "importing"
    return image_id


def kill_and_restart(server: LiveServer) -> None:
    """Kill the API server and start it again; its registry, if any, stays up throughout
    (the same process after, not a second one beside it)."""
    registry = server.registry.process if server.registry is not None else None
    os.kill(server.pid, signal.SIGKILL)
    assert server.process is not None
    server.process.wait()
    server.start()
    if registry is not None:
        assert server.registry is not None and server.registry.process is registry
        assert registry.poll() is None


def test_killed_import_is_run_again(
    tmp_path: Path, web: tuple[str, int, Content], server_factory: Callable[..., LiveServer]
) -> None:
    server = server_factory(*import_config(tmp_path, web[1], "[task]", "max_attempts = 2"))
    image_id = start_import(server, web)
    kill_and_restart(server)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
        image = wait_for(api, image_id, "active", "queued", timeout=60)
        assert image["status"] == "active"
        assert api.get(f"/v2/images/{image_id}/file").content == DATA
        tasks = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        assert [t["status"] for t in tasks] == ["success"]
    assert web[2].hits["/slow.img"] == 2
    assert list((tmp_path / "staging").iterdir()) == []


def test_killed_import_out_of_attempts_goes_back_to_queued(
    tmp_path: Path, web: tuple[str, int, Content], server_factory: Callable[..., LiveServer]
) -> None:
    server = server_factory(*import_config(tmp_path, web[1], "[task]", "max_attempts = 1"))
    image_id = start_import(server, web)
    kill_and_restart(server)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
        image = wait_for(api, image_id, "active", "queued", timeout=60)
        assert image["status"] == "queued"
        assert "os_glance_import_task" not in image
        task = api.get(f"/v2/images/{image_id}/tasks").json()["tasks"][0]
        assert task["status"] == "failure"
        assert "interrupted" in task["message"]
    assert web[2].hits["/slow.img"] == 1
    assert list((tmp_path / "staging").iterdir()) == []


def test_killed_stage_goes_back_to_queued(
    tmp_path: Path, web: tuple[str, int, Content], server_factory: Callable[..., LiveServer]
) -> None:
    port = free_port()
    config = import_config(tmp_path, web[1], f"worker_self_reference_url = http://127.0.0.1:{port}")
    server = LiveServer(tmp_path / "stager", config)
    server.port, server.url = port, f"http://127.0.0.1:{port}"
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as api:
            image_id = create(api, name="s", disk_format="raw", container_format="bare")["id"]

            def slow_body() -> Iterator[bytes]:
                yield DATA[:65536]
                time.sleep(0.5)
                kill_and_restart(server)
                yield DATA[65536:131072]

            with pytest.raises(httpx.HTTPError):
                api.put(f"/v2/images/{image_id}/stage", content=slow_body(), headers=OCTET)
            assert api.get(f"/v2/images/{image_id}").json()["status"] == "uploading"
            image = wait_for(api, image_id, "queued", timeout=30)
            assert image["size"] is None
            again = api.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTET)
            assert again.status_code == 204
    finally:
        server.stop()
