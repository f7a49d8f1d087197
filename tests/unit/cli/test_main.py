"""The ``spyglass`` command: config errors are one clear line, ``db sync`` works."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures"


def _spyglass(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spyglass", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[DEFAULT]\nbind_port = abc\n", "bind.conf:2: [DEFAULT] bind_port"),
        ("[DEFAULT]\nthis line is not an option\n", "bind.conf:2: cannot parse line"),
        ("bind_port = 9292\n", "bind.conf:1"),
    ],
)
def test_bad_config_is_one_line_naming_file_line_and_option(
    tmp_path: Path, text: str, needle: str
) -> None:
    (tmp_path / "bind.conf").write_text(text)
    result = _spyglass("api", "--config-file", "bind.conf", cwd=tmp_path)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("spyglass: error: ")
    assert needle in errors[0]


def test_missing_config_file(tmp_path: Path) -> None:
    result = _spyglass("api", "--config-file", "nope.conf", cwd=tmp_path)
    assert result.returncode != 0
    assert "nope.conf" in result.stderr


def test_db_sync_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = _spyglass("db", "sync", "--data-dir", "d", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "d" / "spyglass.sqlite").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert {"images", "image_properties", "image_tags", "image_locations", "image_members",
            "alembic_version"} <= tables  # fmt: skip


def test_db_sync_against_a_closed_port_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "db.conf").write_text(
        "[database]\nconnection = postgresql://u:p@127.0.0.1:1/glance\n"
    )
    result = _spyglass("db", "sync", "--config-file", "db.conf", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "database" in result.stderr


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures not beside the checkout")
def test_seed_config_files_load_as_they_are(tmp_path: Path) -> None:
    result = _spyglass(
        "config", "check",
        "--config-file", str(FIXTURES / "glance-api.conf"),
        "--config-file", str(FIXTURES / "glance-registry.conf"),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "default_store = file" in result.stdout
    assert "sql_connection = mysql://glance:***@127.0.0.1/glance" in result.stdout


def test_several_workers_serve_and_stop_cleanly(tmp_path: Path) -> None:
    import time

    import httpx

    from tests.server import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "spyglass", "api", "--workers", "2", "--data-dir", "d",
         "--bind-host", "127.0.0.1", "--bind-port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{url}/versions", trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        created = httpx.post(f"{url}/v2/images", json={"name": "w"}, trust_env=False)
        assert created.status_code == 201
        for _ in range(10):  # fresh connections land on either worker; both see the image
            shown = httpx.get(f"{url}/v2/images/{created.json()['id']}", trust_env=False)
            assert shown.status_code == 200
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
