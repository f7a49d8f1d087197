"""The ``spyglass`` command: one-line config errors, db sync, config check and sample, version."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from spyglass import __version__
from spyglass.config.sample import SERVICES
from tests.unit.config.seed import ETC, SEED_STYLE_API, SEED_STYLE_REGISTRY, shared_seed_files


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
            "spyglass_alembic_version"} <= tables  # fmt: skip


def test_db_sync_against_a_closed_port_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "db.conf").write_text(
        "[database]\nconnection = postgresql://u:p@127.0.0.1:1/glance\n"
    )
    result = _spyglass("db", "sync", "--config-file", "db.conf", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "database" in result.stderr


def _config_check(cwd: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    flags = [arg for path in files for arg in ("--config-file", str(path))]
    return _spyglass("config", "check", *flags, cwd=cwd)


@pytest.mark.parametrize("variant", ["written", "shared"])
def test_seed_config_files_load_as_they_are(tmp_path: Path, variant: str) -> None:
    # "shared" reads the seed's files verbatim (skipped where shared/ is not beside the
    # checkout); "written" holds the same options and values and runs everywhere.
    if variant == "shared":
        api, registry = shared_seed_files()
    else:
        api, registry = tmp_path / "glance-api.conf", tmp_path / "glance-registry.conf"
        api.write_text(SEED_STYLE_API)
        registry.write_text(SEED_STYLE_REGISTRY)
    result = _config_check(tmp_path, api, registry)
    assert result.returncode == 0, result.stderr
    assert "default_store = file" in result.stdout
    assert "sql_connection = mysql://glance:***@127.0.0.1/glance" in result.stdout
    assert "openstack" not in result.stdout


def test_version() -> None:
    result = _spyglass("--version", cwd=Path.cwd())
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"spyglass {__version__}\n"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_config_sample_prints_the_file_in_etc(tmp_path: Path, service: str) -> None:
    flags = [] if service == "api" else ["--service", service]
    result = _spyglass("config", "sample", *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ETC / f"glance-{service}.conf").read_text()
    written = _spyglass("config", "sample", *flags, "--output-file", "out/x.conf", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "out" / "x.conf").read_text() == result.stdout


def test_config_sample_refuses_an_unknown_service(tmp_path: Path) -> None:
    result = _spyglass("config", "sample", "--service", "compute", cwd=tmp_path)
    assert result.returncode == 2
    known = ", ".join(SERVICES)
    assert result.stderr.strip() == f"spyglass: error: unknown service 'compute' (known: {known})"
    assert "api" in SERVICES


def test_the_etc_samples_load_as_the_defaults(tmp_path: Path) -> None:
    result = _config_check(tmp_path, ETC / "glance-api.conf", ETC / "glance-registry.conf")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "bind_port = 9292" in result.stdout


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
