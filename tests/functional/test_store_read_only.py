"""A store that cannot be written does not stop the server: it serves, and writes answer 503."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.server import LiveServer


def test_an_unusable_store_starts_read_only(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    server = server_factory("[glance_store]", f"filesystem_store_datadir = {blocker}/images")
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        image = client.post(
            "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
        ).json()
        response = client.put(
            f"/v2/images/{image['id']}/file",
            content=b"data",
            headers={"Content-Type": "application/octet-stream", "Accept": "application/json"},
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert "Store file is read-only" in response.json()["message"]
        assert str(blocker) not in response.text
        assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    log = server.log.read_text()
    assert "store file (file) is read-only: Store file: its data directory" in log
