"""Run a real Spyglass API server in a subprocess, for end-to-end tests and benchmarks."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from tests.backends import Provisioner, active

_HANDED_OUT: set[int] = set()
"""Ports this process has given out already (a test may take two before starting either)."""

_WATCHED: dict[subprocess.Popen[bytes], tuple[str, Path]] = {}
"""Servers started and not stopped here: process -> (what it is, its log)."""


def servers_that_died() -> list[tuple[str, int, str]]:
    """Servers that exited without being stopped here since the last call: what each was,
    its exit code and the end of its log. They are forgotten once returned (a test that
    kills one on purpose is told once). A failed test's report shows them
    (``tests/conftest.py``): a server that crashed otherwise shows only as "connection
    refused" in a client, and its log is gone with the test's temporary directory."""
    died = []
    for process, (what, log) in list(_WATCHED.items()):
        code = process.poll()
        if code is None:
            continue
        del _WATCHED[process]
        try:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-80:])
        except OSError as exc:
            tail = f"(no log: {exc})"
        died.append((what, code, tail))
    return died


def _watch(process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    _WATCHED[process] = (what, log)


@functools.cache
def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test starts a moment later.

    Not ``bind(0)``: the kernel picks that from its ephemeral range, the range every outgoing
    connection takes its local port from, so in the seconds before the server binds it a client
    connection (a database driver, say) can take it and the server fails with "address in use".
    Ports just below that range are only ever taken by a listener that asked for one. Each
    pytest-xdist worker draws from its own slice, so two workers never hand out the same port.
    """
    top = min(_ephemeral_low(), 65536)
    bottom = max(top - 12000, 10000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index, count = (int(worker), 8) if worker.isdigit() else (0, 1)
    width = (top - bottom) // count
    start = bottom + (index % count) * width
    for port in random.sample(range(start, start + width), width):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {start}-{start + width - 1}")


def _wait_until_up(
    process: subprocess.Popen[bytes], url: str, log: Path, timeout: float, **client: Any
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1, trust_env=False, **client).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return  # one that died on its own stays watched: the test's report shows why
    _WATCHED.pop(process, None)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RegistryServer:
    """``spyglass registry`` on a free loopback port, for one API server's database."""

    def __init__(
        self,
        data_dir: Path,
        provisioner: Provisioner,
        database: str | None,
        config_lines: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.provisioner = provisioner
        self.database = database
        self.config_lines = list(config_lines)
        """More ``glance-registry.conf`` lines (sections allowed): notifications, say."""
        self.mode = provisioner.backend.registry or "http"
        self.port = free_port()
        self.url = f"{'http' if self.mode == 'http' else 'https'}://127.0.0.1:{self.port}"
        self.config = data_dir / "glance-registry.conf"
        self.log = data_dir / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _server_lines(self) -> list[str]:
        lines = ["[DEFAULT]"]
        if self.mode != "mtls":
            lines.append(f"registry_auth_token = {self.provisioner.token}")
        if self.mode != "http":
            tls = self.provisioner.tls_files()
            lines += [f"cert_file = {tls.server}", f"key_file = {tls.server}"]
            if self.mode == "mtls":
                lines.append(f"ca_file = {tls.ca}")
        lines += self.config_lines
        if self.database is not None:
            lines += ["[database]", f"connection = {self.database}"]
        return lines

    def client_lines(self) -> list[str]:
        """The ``[DEFAULT]`` lines of an API server that uses this registry."""
        lines = [
            "data_api = glance.db.registry.api",
            "registry_host = 127.0.0.1",
            f"registry_port = {self.port}",
            "registry_client_timeout = 30",
        ]
        if self.mode != "mtls":
            lines.append(f"registry_auth_token = {self.provisioner.token}")
        if self.mode != "http":
            tls = self.provisioner.tls_files()
            lines += ["registry_client_protocol = https", f"registry_client_ca_file = {tls.ca}"]
            if self.mode == "mtls":
                lines += [f"registry_client_cert_file = {tls.client}",
                          f"registry_client_key_file = {tls.client}"]  # fmt: skip
        return lines

    def start(self, timeout: float = 30.0) -> RegistryServer:
        """Start the registry; one still running is kept (an API server a test killed and
        starts again finds its registry up, as in a deployment; a second one on the same
        port would be orphaned, since the workers share it)."""
        if self.process is not None and self.process.poll() is None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text("\n".join(self._server_lines()) + "\n")
        command = [
            sys.executable, "-m", "spyglass", "registry", "--config-file", str(self.config),
            "--data-dir", str(self.data_dir), "--bind-host", "127.0.0.1",
            "--bind-port", str(self.port),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
            )  # fmt: skip
        _watch(self.process, f"registry on port {self.port}", self.log)
        verify: ssl.SSLContext | bool = True
        if self.mode != "http":
            verify = self.provisioner.tls_files().client_context(certificate=self.mode == "mtls")
        if not _wait_until_up(self.process, f"{self.url}/healthcheck", self.log, timeout,
                              verify=verify):  # fmt: skip
            self.stop()
            raise RuntimeError(f"registry did not start:\n{self.log.read_text()}")
        return self

    def stop(self) -> None:
        _stop(self.process)


class LiveServer:
    """``spyglass api`` on a free loopback port with its own data directory.

    It runs in the configuration the session made active (``tests.backends``): its own
    database on PostgreSQL or MySQL, and its own registry in front of it in a registry
    configuration; embedded SQLite by default.
    """

    def __init__(self, data_dir: Path, config_lines: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = data_dir / "spyglass-api.conf"
        self.config_lines = list(config_lines)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"
        self.provisioner = active()
        self.registry: RegistryServer | None = None
        self.registry_lines: list[str] = []
        """Lines for the registry's own configuration, in a registry configuration."""

    def _config_text(self, start_registry: bool) -> str:
        head: list[str] = []
        tail: list[str] = []
        provisioner = self.provisioner
        if provisioner is not None:
            database = provisioner.database_url(self.data_dir)
            if provisioner.backend.registry:
                where = self.data_dir / "registry"
                self.registry = self.registry or RegistryServer(
                    where, provisioner, database, self.registry_lines
                )
                if start_registry:
                    self.registry.start()
                head = self.registry.client_lines()
            elif database is not None:
                tail = ["[database]", f"connection = {database}"]
        return "[DEFAULT]\n" + "\n".join(head + self.config_lines + tail) + "\n"

    def start(self, timeout: float = 30.0, *, start_registry: bool = True) -> LiveServer:
        """Start the server (and its registry, unless ``start_registry`` is false)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self._config_text(start_registry))
        command = [
            sys.executable,
            "-m",
            "spyglass",
            "api",
            "--config-file",
            str(self.config),
            "--data-dir",
            str(self.data_dir),
            "--bind-host",
            "127.0.0.1",
            "--bind-port",
            str(self.port),
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
            )
        _watch(self.process, f"API server on port {self.port}", self.log)
        try:
            if _wait_until_up(self.process, f"{self.url}/versions", self.log, timeout):
                return self
        except RuntimeError:
            self.stop()  # its registry too
            raise
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        _stop(self.process)
        if self.registry is not None:
            self.registry.stop()


class RssSampler:
    """Sample a process's resident memory (with its children) in a thread; keep the peak."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = False
        self._thread: threading.Thread | None = None

    def _rss(self) -> int:
        import psutil

        total: int = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self._rss())


def pattern_stream(size: int, block: int = 1024 * 1024) -> Iterator[bytes]:
    """The same ``size`` bytes on every call; incompressible, never all in memory."""
    seed = random.Random(size).randbytes(block)
    sent = 0
    counter = 0
    while sent < size:
        piece = counter.to_bytes(8, "big") + seed[8:]
        piece = piece[: size - sent]
        sent += len(piece)
        counter += 1
        yield piece
