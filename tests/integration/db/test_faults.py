"""Database faults on a real PostgreSQL server the test owns (``scripts/postgres.sh``, port 15432).

Down or refusing our password: requests answer 503 with ``Retry-After`` quickly
(never a 500, never a hang); start-up fails with one clear line; and a running
server recovers by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from spyglass.db.engine import create_database
from spyglass.db.migrate import sync_schema
from tests.integration.db.private_postgres import PrivatePostgres, private_postgres
from tests.server import LiveServer

FAST_FAIL = ["max_retries = 2", "retry_interval = 1"]


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


def _synced(url: str) -> None:
    async def run() -> None:
        database = create_database(url)
        try:
            await sync_schema(database)
        finally:
            await database.dispose()

    asyncio.run(run())


def _serve(tmp_path: Path, url: str, *database_lines: str) -> LiveServer:
    lines = ["[database]", f"connection = {url}", *database_lines]
    return LiveServer(tmp_path / "server", lines)


def _start_fails(tmp_path: Path, url: str, *database_lines: str) -> tuple[str, float]:
    server = _serve(tmp_path, url, *database_lines)
    server.data_dir.mkdir(parents=True, exist_ok=True)
    server.config.write_text("[DEFAULT]\n" + "\n".join(server.config_lines) + "\n")
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "spyglass", "api", "--config-file", str(server.config),
         "--data-dir", str(server.data_dir), "--bind-host", "127.0.0.1",
         "--bind-port", str(server.port)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    return result.stderr, time.monotonic() - began


def _one_line_error(stderr: str, secret: str) -> str:
    assert "Traceback" not in stderr
    assert secret not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("spyglass: error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def _expect_503(client: httpx.Client, method: str, path: str, **kwargs: object) -> None:
    began = time.monotonic()
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    assert "database" in response.json()["message"]
    assert time.monotonic() - began < 15


def _wait_for(client: httpx.Client, path: str, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


def test_database_down_answers_503_then_recovers(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    _synced(private_pg.url)
    server = _serve(tmp_path, private_pg.url).start()
    headers = {"Accept": "application/json"}
    try:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False, headers=headers) as c:
            created = c.post("/v2/images", json={"name": "before"})
            assert created.status_code == 201
            image = created.json()["id"]

            private_pg.stop()
            _expect_503(c, "GET", "/v2/images")
            _expect_503(c, "GET", f"/v2/images/{image}")
            _expect_503(c, "POST", "/v2/images", json={"name": "during"})
            assert c.get("/healthcheck").status_code == 503  # the balancer takes it out

            private_pg.start()
            assert _wait_for(c, f"/v2/images/{image}").json()["name"] == "before"
            assert c.post("/v2/images", json={"name": "after"}).status_code == 201
            assert c.get("/healthcheck").status_code == 200
            names = {i["name"] for i in c.get("/v2/images").json()["images"]}
            assert names == {"before", "after"}
    finally:
        server.stop()
    assert private_pg.password not in server.log.read_text()
    assert "Traceback" not in server.log.read_text()


def test_a_changed_password_answers_503_until_it_is_restored(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    _synced(private_pg.url)
    server = _serve(tmp_path, private_pg.url).start()
    headers = {"Accept": "application/json"}
    try:
        with httpx.Client(base_url=server.url, timeout=30, trust_env=False, headers=headers) as c:
            assert c.get("/v2/images").status_code == 200
            private_pg.set_password("not-the-configured-one")
            _expect_503(c, "GET", "/v2/images")
            private_pg.set_password(private_pg.password)
            assert _wait_for(c, "/v2/images").status_code == 200
    finally:
        server.stop()
    assert private_pg.password not in server.log.read_text()


def test_start_with_the_database_down_is_one_line_after_the_retries(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    _synced(private_pg.url)
    private_pg.stop()
    stderr, took = _start_fails(tmp_path, private_pg.url, *FAST_FAIL)
    line = _one_line_error(stderr, private_pg.password)
    assert "cannot connect to the database" in line
    assert "attempt 1 of 2" in stderr  # max_retries and retry_interval took effect
    assert "attempt 2 of 2" not in stderr
    assert 1 <= took < 60


def test_start_with_a_wrong_password_is_one_line_at_once(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    _synced(private_pg.url)
    wrong = "wrong-" + private_pg.password
    stderr, _ = _start_fails(tmp_path, private_pg.url_with_password(wrong), "max_retries = 5")
    line = _one_line_error(stderr, wrong)
    assert "password authentication failed" in line
    assert "attempt" not in stderr  # a wrong password is not retried


def test_start_on_an_unsynced_database_says_to_sync(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    stderr, _ = _start_fails(tmp_path, private_pg.url)
    line = _one_line_error(stderr, private_pg.password)
    assert "run spyglass db sync" in line
