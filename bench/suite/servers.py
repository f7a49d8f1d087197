"""The two servers under test, started side by side on loopback, and their memory."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
GLANCE_SH = REPO / "bench" / "upstream" / "glance.sh"
WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def source_digest() -> str:
    """A digest of Spyglass's source tree, to notice code that changed during a run."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted((REPO / "src" / "spyglass").rglob("*.py")):
        digest.update(str(path).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class Server:
    """What the workloads need to know about a server."""

    name = ""
    label = ""
    store_id = ""  # the ``store`` a location's metadata names

    def __init__(self, work: Path) -> None:
        self.work = work
        self.host = "127.0.0.1"
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def db_path(self) -> Path:
        raise NotImplementedError

    @property
    def store_dir(self) -> Path:
        raise NotImplementedError

    def pid(self) -> int:
        raise NotImplementedError

    def start(self, *, fresh: bool = False) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        self.stop()
        self.start()

    def _wait_until_up(self, timeout: float, alive: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _answers(f"{self.url}/versions"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer on {self.url}")


class Spyglass(Server):
    name = "spyglass"
    label = f"Spyglass (uvicorn, {WORKERS} workers)"
    store_id = "file"

    def __init__(
        self,
        work: Path,
        config_lines: list[str] | None = None,
        *,
        name: str = "spyglass",
        source: Path | None = None,
    ) -> None:
        """``source``: another checkout's ``src`` to run instead of this one's (a baseline
        revision beside the current code, in the same run); ``name`` tells them apart."""
        super().__init__(work)
        self.name = name
        self.source = source
        self.data = work / name
        self.config_lines = config_lines or []
        self.process: subprocess.Popen[bytes] | None = None
        self.sources: set[str] = set()  # digests of the code each start ran

    @property
    def db_path(self) -> Path:
        return self.data / "spyglass.sqlite"

    @property
    def store_dir(self) -> Path:
        return self.data / "images"

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, fresh: bool = False) -> None:
        self.start_process(fresh=fresh)
        try:
            self._wait_until_up(60)
        except RuntimeError:
            self.stop()
            raise

    def start_process(self, *, fresh: bool = False) -> None:
        """Start ``spyglass api`` without waiting for it to answer."""
        self.sources.add(source_digest() if self.source is None else str(self.source))
        if fresh and self.data.exists():
            subprocess.run(["rm", "-rf", str(self.data)], check=True)
        self.data.mkdir(parents=True, exist_ok=True)
        config = self.data / "spyglass-api.conf"
        config.write_text("[DEFAULT]\n" + "\n".join(self.config_lines) + "\n")
        command = self.command(config)
        env = dict(os.environ)
        if self.source is not None:  # ahead of the venv's editable install of this tree
            env["PYTHONPATH"] = str(self.source)
        with (self.data / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
            )

    def command(self, config: Path) -> list[str]:
        """How this server is started: ``spyglass api`` (others serve the same app)."""
        return [
            str(REPO / ".venv" / "bin" / "spyglass"),
            "api",
            "--config-file",
            str(config),
            "--data-dir",
            str(self.data),
            "--bind-host",
            self.host,
            "--bind-port",
            str(self.port),
            "--workers",
            str(WORKERS),
        ]

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM a server started in its own session; SIGKILL that session if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Our own session: the server and the workers it spawned, nothing else.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Upstream(Server):
    name = "upstream"
    label = f"upstream Glance 33.0.0 (uWSGI, {WORKERS} processes)"
    store_id = "fs"

    def __init__(
        self, work: Path, *, http: str = "socket", wal: bool = True, cache: bool = False
    ) -> None:
        super().__init__(work)
        self.http = http
        self.wal = wal
        self.cache = cache
        self.run_dir = work / "upstream"
        self.locked_errors = 0  # "database is locked" in its logs (start truncates them)

    @property
    def db_path(self) -> Path:
        return self.run_dir / "glance.sqlite"

    @property
    def store_dir(self) -> Path:
        return self.run_dir / "images"

    def _env(self, keep: bool) -> dict[str, str]:
        return {
            **os.environ,
            "SPYGLASS_BENCH_DIR": str(self.work),
            "UPSTREAM_VENV": str(REPO / ".bench" / "upstream-venv"),
            "UPSTREAM_PROCESSES": str(WORKERS),
            "UPSTREAM_KEEP_DATA": "1" if keep else "0",
            "UPSTREAM_CACHE": "1" if self.cache else "0",
            "UPSTREAM_HTTP": self.http,
        }

    @staticmethod
    def install() -> None:
        subprocess.run([str(GLANCE_SH), "install"], check=True)

    def pid(self) -> int:
        return int((self.run_dir / "uwsgi.pid").read_text().strip())

    def start(self, *, fresh: bool = False) -> None:
        subprocess.run(
            [str(GLANCE_SH), "start", str(self.port)],
            check=True,
            env=self._env(keep=not fresh),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if self.wal:
            self._ensure_wal()

    def _ensure_wal(self) -> None:
        """SQLite's journal mode is stored in the file: switch it once, like Spyglass runs.

        Needs no other connection holding the file; a restart picks it up."""
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as db:
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            self.stop()
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as db:
                db.execute("PRAGMA journal_mode=WAL")
            subprocess.run(
                [str(GLANCE_SH), "start", str(self.port)],
                check=True,
                env=self._env(keep=True),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        log = self.run_dir / "uwsgi.log"
        with contextlib.suppress(OSError):
            self.locked_errors += log.read_text(errors="replace").count(
                "OperationalError) database is locked"
            )
        subprocess.run(
            [str(GLANCE_SH), "stop"],
            check=False,
            env=self._env(keep=True),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


class RssSampler:
    """Sample the resident memory of a server's process tree in a thread.

    Keeps the peak of the sum over all its processes and the peak of any one process
    (a worker, as a rule)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_total = 0
        self.peak_process = 0
        self._processes: list[psutil.Process] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _refresh(self) -> None:
        self._processes = [self.root, *self.root.children(recursive=True)]

    def sample(self) -> None:
        total = 0
        for process in self._processes:
            with contextlib.suppress(psutil.Error):
                rss = process.memory_info().rss
                total += rss
                self.peak_process = max(self.peak_process, rss)
        self.peak_total = max(self.peak_total, total)

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(self.interval):
            ticks += 1
            if ticks % 20 == 0:
                with contextlib.suppress(psutil.Error):
                    self._refresh()
            self.sample()

    def __enter__(self) -> RssSampler:
        self._refresh()
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def process_count(self) -> int:
        return len(self._processes)
