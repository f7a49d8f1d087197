"""``delayed_delete``: deleted images wait as ``pending_delete`` for ``spyglass scrub``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import httpx

from tests.functional.helpers import create, upload
from tests.server import LiveServer


def _scrub(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "spyglass", "scrub", "--config-file", str(server.config),
               "--data-dir", str(server.data_dir), *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_scrub_finishes_and_restore_undoes(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("delayed_delete = true", "scrub_time = 0")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        images = []
        for name in ("doomed", "saved"):
            image = create(client, name=name, disk_format="raw", container_format="bare")
            assert upload(client, image["id"], name.encode()).status_code == 204
            images.append(image["id"])
        doomed, saved = images
        never_uploaded = create(client)["id"]
        for image_id in (*images, never_uploaded):
            assert client.delete(f"/v2/images/{image_id}").status_code == 204
            assert client.get(f"/v2/images/{image_id}").status_code == 404
        files = server.data_dir / "images"
        assert (files / doomed).exists()
        assert (files / saved).exists()

        restored = _scrub(server, "--restore", saved)
        assert restored.returncode == 0, restored.stderr
        assert client.get(f"/v2/images/{saved}").json()["status"] == "active"
        assert client.get(f"/v2/images/{saved}/file").content == b"saved"

        scrubbed = _scrub(server)
        assert scrubbed.returncode == 0, scrubbed.stderr
        assert "scrubbed 1 image(s)" in scrubbed.stdout
        assert not (files / doomed).exists()
        assert (files / saved).exists()
        assert _scrub(server, "--restore", doomed).returncode != 0
        assert _scrub(server, "--restore", never_uploaded).returncode != 0


def test_scrub_time_is_respected(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory("delayed_delete = true", "scrub_time = 3600")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        image = create(client, disk_format="raw", container_format="bare")
        upload(client, image["id"], b"kept for an hour")
        client.delete(f"/v2/images/{image['id']}")
        assert "scrubbed 0 image(s)" in _scrub(server).stdout
        assert (server.data_dir / "images" / image["id"]).exists()
