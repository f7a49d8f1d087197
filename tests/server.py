"""Run a real Spyglass API server in a subprocess, for end-to-end tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """``spyglass api`` on a free loopback port with its own data directory."""

    def __init__(self, data_dir: Path, config_lines: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = data_dir / "spyglass-api.conf"
        self.config_lines = list(config_lines)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text("[DEFAULT]\n" + "\n".join(self.config_lines) + "\n")
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
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/versions", timeout=1, trust_env=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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
