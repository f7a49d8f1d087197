"""A plain install works: build the wheel, install it with no extras into a new virtual
environment, and serve images from there.

This is what an operator does (``pip install spyglass``), and it catches what the development
environment hides: a library that the test or compat extras happen to bring in while the server
needs it at run time. Every step has a time limit; the temporary directory holds everything.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from spyglass import __version__
from tests.server import free_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(*command: str | Path, timeout: float, cwd: Path) -> str:
    result = subprocess.run(
        [str(c) for c in command],
        capture_output=True, text=True, timeout=timeout, cwd=cwd, env=_clean_env(), check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _clean_env() -> dict[str, str]:
    """This process's environment without what points at the development checkout."""
    dropped = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "SPYGLASS_SERVE", "SPYGLASS_DATA_DIR"}
    return {k: v for k, v in os.environ.items() if k not in dropped} | {"PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the freshly built wheel and nothing else; its bin/."""
    work = tmp_path_factory.mktemp("wheel")
    _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", work / "dist",
        REPO, timeout=300, cwd=work,
    )  # fmt: skip
    (wheel,) = (work / "dist").glob("spyglass-*.whl")
    _run(sys.executable, "-m", "venv", work / "env", timeout=120, cwd=work)
    bin_dir = work / "env" / "bin"
    _run(bin_dir / "python", "-m", "pip", "install", "--quiet", wheel, timeout=600, cwd=work)
    return bin_dir


def test_the_installed_command_reports_its_version_from_the_install(installed: Path) -> None:
    assert _run(installed / "spyglass", "--version", timeout=60, cwd=installed) == (
        f"spyglass {__version__}\n"
    )
    where = _run(
        installed / "python", "-c", "import spyglass; print(spyglass.__file__)",
        timeout=60, cwd=installed,
    )  # fmt: skip
    assert Path(where.strip()).is_relative_to(installed.parent)
    # No extras: the test tools are not there, so the server can't lean on them.
    missing = _run(
        installed / "python", "-c",
        "import importlib.util as u; print([m for m in ('pytest', 'glanceclient', 'oslo_config')"
        " if u.find_spec(m)])",
        timeout=60, cwd=installed,
    )  # fmt: skip
    assert missing.strip() == "[]"


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited early:\n{log.read_text()}"
        try:
            if httpx.get(f"{url}/versions", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def test_the_installed_server_stores_and_serves_an_image(installed: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [installed / "spyglass", "api", "--bind-host", "127.0.0.1", "--bind-port", str(port),
             "--data-dir", tmp_path / "data"],
            cwd=tmp_path, env=_clean_env(), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_up(url, process, log)
        data = os.urandom(2 * 1024 * 1024 + 5)
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
            created = client.post(
                "/v2/images",
                json={"name": "from-a-wheel", "disk_format": "raw", "container_format": "bare"},
            )
            assert created.status_code == 201, created.text
            image = created.json()["id"]
            headers = {"Content-Type": "application/octet-stream"}
            uploaded = client.put(f"/v2/images/{image}/file", content=data, headers=headers)
            assert uploaded.status_code == 204, uploaded.text
            downloaded = client.get(f"/v2/images/{image}/file")
            assert downloaded.status_code == 200
            assert downloaded.content == data
            shown = client.get(f"/v2/images/{image}").json()
            assert shown["status"] == "active"
            assert shown["checksum"] == hashlib.md5(data).hexdigest()
    finally:
        process.terminate()
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert code in (0, -signal.SIGTERM), log.read_text()
    text = log.read_text()
    assert "Traceback" not in text
    assert f"spyglass {__version__} starting" in text
