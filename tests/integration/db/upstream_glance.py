"""Upstream Glance 33 (PyPI, its own virtual environment) run by ``bench/upstream/glance.sh``.

Identity comes from request headers (``UPSTREAM_AUTH=headers``), so images get
real owners and members. The database is the caller's; the image files live in
``<run dir>/upstream/images``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.integration.db.private_postgres import unavailable
from tests.server import free_port

REPO = Path(__file__).resolve().parents[3]
GLANCE_SH = REPO / "bench" / "upstream" / "glance.sh"
VENV = Path(os.environ.get("UPSTREAM_VENV", REPO / ".bench" / "upstream-venv"))

ADMIN = {"X-Project-Id": "p-admin", "X-User-Id": "u-admin", "X-Roles": "admin,member,reader"}


def project(name: str) -> dict[str, str]:
    return {"X-Project-Id": name, "X-User-Id": f"u-{name}", "X-Roles": "member,reader"}


def sync_url(url: str) -> str:
    """The URL upstream's own drivers (psycopg2, PyMySQL) take for a test database."""
    scheme, rest = url.split("://", 1)
    driver = {"postgresql": "postgresql+psycopg2", "mysql+pymysql": "mysql+pymysql"}
    return f"{driver.get(scheme, scheme)}://{rest}"


class UpstreamGlance:
    def __init__(self, work: Path, database_url: str) -> None:
        self.work = work
        self.database_url = sync_url(database_url)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def store_dir(self) -> Path:
        return self.work / "upstream" / "images"

    def _env(self, keep: bool) -> dict[str, str]:
        return {
            **os.environ,
            "SPYGLASS_BENCH_DIR": str(self.work),
            "UPSTREAM_VENV": str(VENV),
            "UPSTREAM_AUTH": "headers",
            "UPSTREAM_PROCESSES": "1",
            "UPSTREAM_DB_CONNECTION": self.database_url,
            "UPSTREAM_KEEP_DATA": "1" if keep else "0",
        }

    def _run(self, *args: str, keep: bool = False) -> None:
        result = subprocess.run(
            [str(GLANCE_SH), *args], env=self._env(keep), capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]

    def start(self, *, keep: bool = False) -> None:
        if not (VENV / "bin" / "glance-manage").exists():
            unavailable(
                f"upstream Glance is not installed in {VENV} (bench/upstream/glance.sh install)"
            )
        self._run("start", str(self.port), keep=keep)

    def stop(self) -> None:
        self._run("stop")

    def client(self, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"X-Identity-Status": "Confirmed", "Accept": "application/json", **headers},
            timeout=60,
            trust_env=False,
        )


def create_image(
    upstream: UpstreamGlance,
    headers: dict[str, str],
    body: dict[str, Any],
    data: bytes | None = None,
) -> str:
    with upstream.client(headers) as client:
        created = client.post("/v2/images", json=body)
        assert created.status_code == 201, created.text
        image_id: str = created.json()["id"]
        if data is not None:
            put = client.put(
                f"/v2/images/{image_id}/file",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert put.status_code == 204, put.text
    return image_id
