"""Ceilings: what the framework and the machine allow for each of Spyglass's figures.

(a) a bare Starlette route on Spyglass's server settings (``bench/bare_route.py``), for metadata
req/s; (b) a minimal socket-to-file copy that computes MD5 and SHA-512 on two threads,
for uploads; (c) a file-to-socket ``sendfile`` copy, for downloads
(``workloads.file_to_socket``). Also the start-up time of ``spyglass api`` to its first
answer and the memory of its workers at rest.
"""

from __future__ import annotations

import hashlib
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from suite import http
from suite.servers import WORKERS, Server, Spyglass, _answers, stop_process

MIB = 1024 * 1024
BARE = Path(__file__).resolve().parents[1] / "bare_route.py"


class BareStarlette(Server):
    """The bare route, answering ``body`` (the bytes of Spyglass's own answer)."""

    name = "bare"
    label = f"bare Starlette (uvicorn, {WORKERS} workers)"

    def __init__(self, work: Path, body: bytes) -> None:
        super().__init__(work)
        self.body_file = work / "bare-body.json"
        self.body_file.parent.mkdir(parents=True, exist_ok=True)
        self.body_file.write_bytes(body)
        self.process: subprocess.Popen[bytes] | None = None

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, fresh: bool = False) -> None:
        command = [sys.executable, str(BARE), self.host, str(self.port), str(WORKERS)]
        self.process = subprocess.Popen(
            [*command, str(self.body_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_until_up(30)

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process, timeout=10)


def show_body(server: Server, path: str) -> bytes:
    """The raw bytes ``server`` answers for ``GET path``."""
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        body: bytes = response.read()
        return body


def socket_to_file_hashed(size: int, work: Path, *, block: int = MIB) -> float:
    """MB/s of bytes received over loopback into a file, MD5 and SHA-512 computed on
    two threads (each ``update`` lets go of the GIL) while the next piece arrives."""
    target = work / "ceiling-upload.bin"
    seed = http.pattern_seed(block)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def send() -> None:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                for offset in range(0, size, block):
                    sock.sendall(memoryview(seed)[: min(block, size - offset)])

        sender = threading.Thread(target=send)
        sender.start()
        connection, _ = listener.accept()
        md5 = hashlib.md5(usedforsecurity=False)
        sha512 = hashlib.sha512()
        buffers = [bytearray(block) for _ in range(4)]
        pending: list[list[Future[None]]] = [[] for _ in buffers]
        received = 0
        started = time.perf_counter()
        with (
            connection,
            ThreadPoolExecutor(1) as md5_thread,
            ThreadPoolExecutor(1) as sha_thread,
            target.open("wb", buffering=0) as out,
        ):
            for index in range(size):  # ends when the sender does
                slot = index % len(buffers)
                for future in pending[slot]:
                    future.result()
                view = memoryview(buffers[slot])
                filled = 0
                while filled < block and (n := connection.recv_into(view[filled:])):
                    filled += n
                if not filled:
                    break
                piece = view[:filled]
                pending[slot] = [
                    md5_thread.submit(md5.update, piece),
                    sha_thread.submit(sha512.update, piece),
                ]
                out.write(piece)
                received += filled
            for futures in pending:
                for future in futures:
                    future.result()
            md5.hexdigest(), sha512.hexdigest()
        elapsed = time.perf_counter() - started
        sender.join()
    target.unlink(missing_ok=True)
    if received != size:
        raise RuntimeError("socket to file: short transfer")
    return size / elapsed / 1e6


@dataclass
class StartUp:
    seconds: float  # ``spyglass api`` started to the first 200 of ``GET /versions``
    worker_rss_mib: float  # the largest worker, at rest after its first answers


def start_up(
    work: Path, *, name: str = "spyglass", source: Path | None = None, tries: int = 3
) -> StartUp:
    """Median of ``tries`` starts of ``spyglass api --workers N`` on an existing database."""
    server = Spyglass(work, name=name, source=source)
    server.start(fresh=True)  # creates the database; not timed
    server.stop()
    seconds: list[float] = []
    rss: list[float] = []
    for _ in range(tries):
        started = time.perf_counter()
        server.start_process()
        try:
            deadline = started + 60
            while not _answers(f"{server.url}/versions"):
                if time.perf_counter() > deadline:
                    raise RuntimeError("spyglass api did not answer within 60 s")
                time.sleep(0.01)
            seconds.append(time.perf_counter() - started)
            time.sleep(1.0)  # every worker up and settled
            for _ in range(20):
                _answers(f"{server.url}/v2/images")
            workers = psutil.Process(server.pid()).children(recursive=True)
            rss.append(max((w.memory_info().rss for w in workers), default=0) / MIB)
        finally:
            server.stop()
    return StartUp(statistics.median(seconds), max(rss))


def best(tries: int, measure: Callable[[], float]) -> float:
    return max(measure() for _ in range(tries))
