"""Shared fixtures for driving the real OpenStack clients against a live Spyglass server.

The CLIs run as subprocesses from the same virtualenv as the tests (the executables next
to ``sys.executable``), with a minimal environment: no ``OS_*`` variables, no proxies,
a private ``HOME`` and working directory so no ``clouds.yaml`` is picked up. Every CLI
call runs with ``--debug`` so that a failure shows the HTTP exchange.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests.server import LiveServer

BIN_DIR = Path(sys.executable).parent
CLI_TIMEOUT = 60.0
# A few MiB, deliberately not a multiple of any power-of-two chunk size.
PAYLOAD_SIZE = 3 * 1024 * 1024 + 4099
PAYLOAD_SEED = 20261127
# How much of a failing CLI's stderr (with --debug, the HTTP log) goes into the report.
STDERR_TAIL = 8000


@dataclass(frozen=True)
class Payload:
    """The bytes the clients upload, with the digests the server must report."""

    path: Path
    data: bytes
    md5: str = field(init=False)
    sha512: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "md5", hashlib.md5(self.data).hexdigest())
        object.__setattr__(self, "sha512", hashlib.sha512(self.data).hexdigest())

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Cli:
    """One OpenStack command-line client pointed at the server."""

    executable: Path
    global_args: tuple[str, ...]
    cwd: Path
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, stdin: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI; fail the test (showing the HTTP log) unless it exits 0 or not check."""
        command = [str(self.executable), "--debug", *self.global_args, *args]
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
            result = subprocess.run(
                command,
                cwd=self.cwd,
                env=self.env,
                stdin=source,
                capture_output=True,
                text=True,
                timeout=CLI_TIMEOUT,
                check=False,
            )
        if check and result.returncode != 0:
            pytest.fail(describe(command, result), pytrace=False)
        return result


def describe(command: list[str], result: subprocess.CompletedProcess[str]) -> str:
    """A failure report: the command, its exit status, stdout and the tail of stderr."""
    stderr = result.stderr
    if len(stderr) > STDERR_TAIL:
        stderr = "[...]\n" + stderr[-STDERR_TAIL:]
    return (
        f"$ {shlex.join(command)}\nexit status {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{stderr}"
    )


def table_rows(text: str) -> list[list[str]]:
    """The cells of every data row of a PrettyTable, header row included."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            rows.append([cell.strip() for cell in line[1:-1].split("|")])
    return rows


def property_table(text: str) -> dict[str, str]:
    """Parse glance's ``Property | Value`` table; wrapped values are joined back."""
    properties: dict[str, str] = {}
    last: str | None = None
    for row in table_rows(text):
        if len(row) != 2 or row == ["Property", "Value"]:
            continue
        key, value = row
        if key:
            properties[key] = value
            last = key
        elif last is not None:
            properties[last] += value
    return properties


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Payload:
    path = tmp_path_factory.mktemp("payload") / "image.raw"
    # Seeded, so the bytes never happen to look like another disk format (an MBR boot
    # signature, a qcow2 magic, ...) to the server's format inspection.
    data = random.Random(PAYLOAD_SEED).randbytes(PAYLOAD_SIZE)
    path.write_bytes(data)
    return Payload(path, data)


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A working directory and a minimal environment without any OS_* variable."""
    home = tmp_path_factory.mktemp("cli-home")
    env = {
        "PATH": os.pathsep.join([str(BIN_DIR), os.defpath]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }
    return home, env


def _cli(
    name: str, package: str, global_args: tuple[str, ...], cli_env: tuple[Path, dict[str, str]]
) -> Cli:
    executable = BIN_DIR / name
    if not executable.exists():
        pytest.skip(f"{package} is not installed in this venv (pip install -e '.[compat]')")
    cwd, env = cli_env
    return Cli(executable, global_args, cwd, env)


@pytest.fixture(scope="session")
def glance(live_server: LiveServer, cli_env: tuple[Path, dict[str, str]]) -> Cli:
    """``glance`` from python-glanceclient, talking to the server with a dummy token."""
    args = ("--os-image-url", live_server.url, "--os-auth-token", "x")
    return _cli("glance", "python-glanceclient", args, cli_env)


@pytest.fixture(scope="session")
def openstack_cli(live_server: LiveServer, cli_env: tuple[Path, dict[str, str]]) -> Cli:
    """``openstack`` from python-openstackclient, without authentication."""
    args = ("--os-auth-type", "none", "--os-endpoint", live_server.url)
    return _cli("openstack", "python-openstackclient", args, cli_env)


@pytest.fixture
def cleanup(client: httpx.Client) -> Iterator[list[str]]:
    """Image ids to delete (directly over HTTP) after the test, whatever happened."""
    ids: list[str] = []
    yield ids
    for image_id in ids:
        client.delete(f"/v2/images/{image_id}")


class MakeImage(Protocol):
    def __call__(self, data: bytes | None = None, **body: Any) -> dict[str, Any]: ...


@pytest.fixture
def make_image(client: httpx.Client, cleanup: list[str]) -> MakeImage:
    """Create an image over plain HTTP, optionally uploading data; returns its JSON."""

    def make(data: bytes | None = None, **body: Any) -> dict[str, Any]:
        body.setdefault("name", unique("http"))
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        response = client.post("/v2/images", json=body)
        assert response.status_code == 201, response.text
        image_id = response.json()["id"]
        cleanup.append(image_id)
        if data is not None:
            put = client.put(
                f"/v2/images/{image_id}/file",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert put.status_code == 204, put.text
        return server_image(client, image_id)

    return make


def server_image(client: httpx.Client, image_id: str) -> dict[str, Any]:
    """The image as the server holds it now."""
    response = client.get(f"/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image


def assert_holds_payload(client: httpx.Client, image_id: str, payload: Payload) -> dict[str, Any]:
    """The server has the image active with exactly the payload's size and digests."""
    image = server_image(client, image_id)
    assert image["status"] == "active"
    assert image["size"] == payload.size
    assert image["virtual_size"] == payload.size  # raw
    assert image["checksum"] == payload.md5
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == payload.sha512
    stored = client.get(f"/v2/images/{image_id}/file")
    assert stored.status_code == 200
    assert hashlib.sha512(stored.content).hexdigest() == payload.sha512
    return image


@pytest.fixture(autouse=True)
def _http_log(caplog: pytest.LogCaptureFixture) -> None:
    """Keep keystoneauth's request/response log, shown by pytest when a test fails."""
    caplog.set_level(logging.DEBUG, logger="keystoneauth")


@pytest.fixture(scope="module")
def _clean_environ() -> Iterator[None]:
    """The SDK runs in-process: hide OS_* variables and proxies (requests honours them)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("OS_") or name.lower().endswith("_proxy"):
                patch.delenv(name)
        yield
