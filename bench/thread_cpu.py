"""Where a store transfer's CPU goes: seconds per GiB by thread, in Spyglass and in the backend.

    python bench/thread_cpu.py [--size MIB] [--backends filesystem,rbd,...] [--output PATH]

Starts Spyglass on the backend (``bench/store_backends/<name>.py``), uploads and downloads
one image with the light socket client of ``suite/http.py``, and reads every thread's
CPU time from ``/proc`` before and after each transfer: in the Spyglass processes (the
event loop, the two hash threads, the worker threads that call the store's client
library, the library's own threads) and in the backend's server processes (matched by
name: ``ceph-osd``, ``swift-*``, moto). Thread names have their numbers folded
(``msgr-worker-0`` and ``-1`` are one line), and, with ``perf`` installed, Spyglass's
samples by shared object: hashing (libcrypto), the kernel, the interpreter, copies
(libc), the store's client library. The profile that says why a transfer runs at the
rate it does on this machine; ``--output`` writes it as the "Stores: where the time
goes" section of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.server
sys.path.insert(0, str(Path(__file__).resolve().parent))  # store_backends, suite

from store_backends import load
from stores import revision
from suite import http
from suite.sections import replace_section
from suite.servers import REPO, Spyglass

MIB = 1024 * 1024
GIB = 1024 * MIB
TICK = float(os.sysconf("SC_CLK_TCK"))
HEADING = "## Stores: where the time goes"
BACKEND_PROCESSES = {
    "rbd": re.compile(r"ceph-(osd|mon|mgr)"),
    "swift": re.compile(r"swift-|memcached"),
    "s3": re.compile(r"moto"),
}
"""The backend's own server processes, by command line (the filesystem store has none)."""


def thread_times(pids: list[int]) -> dict[str, float]:
    """CPU seconds so far of every thread of ``pids``, keyed by process and thread name."""
    times: dict[str, float] = {}
    for pid in pids:
        try:
            process = _fold(psutil.Process(pid).name())
            whole = _seconds(Path(f"/proc/{pid}/stat"))
            for task in Path(f"/proc/{pid}/task").iterdir():
                name = (task / "comm").read_text().strip()
                seconds = _seconds(task / "stat")
                key = f"{process}: {_fold(name)}"
                times[key] = times.get(key, 0.0) + seconds
                whole -= seconds
            key = f"{process}: (threads that ended)"
            times[key] = times.get(key, 0.0) + whole
        except (psutil.Error, OSError):
            continue  # a thread or process that ended meanwhile
    return times


def _seconds(stat: Path) -> float:
    """utime + stime of a ``/proc`` stat file (a process's include its ended threads)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _fold(name: str) -> str:
    return re.sub(r"\d+", "N", name)


def backend_pids(backend: str) -> list[int]:
    pattern = BACKEND_PROCESSES.get(backend)
    if pattern is None:
        return []
    return [
        p.pid
        for p in psutil.process_iter(["name", "cmdline"])
        if pattern.search(" ".join(p.info["cmdline"] or [p.info["name"] or ""]))
    ]


def server_pids(root: int) -> list[int]:
    process = psutil.Process(root)
    return [root, *(child.pid for child in process.children(recursive=True))]


def _minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


DSO_NAMES = {
    "libcrypto": "hashing (OpenSSL's MD5 and SHA-512)",
    "kernel": "kernel (sockets, files, scheduling)",
    "libpython": "Python interpreter",
    "libc": "libc (memory copies)",
    "loop": "uvloop (the event loop)",
}


class Perf:
    """``perf record`` around one transfer, if perf is installed: the Spyglass processes'
    samples by shared object (hashing, kernel, interpreter, the store's client library)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.data = Path(tempfile.mkstemp(suffix=".perf")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Perf:
        if shutil.which("perf"):
            command = ["perf", "record", "-F", "499", "-o", str(self.data),
                       "-p", ",".join(map(str, self.pids))]  # fmt: skip
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(0.5)  # perf attaches
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)

    def shares(self) -> dict[str, float]:
        """Share of the samples by shared object (folded names, see ``DSO_NAMES``)."""
        if self.process is None:
            return {}
        report = subprocess.run(
            ["perf", "report", "-i", str(self.data), "--sort", "dso", "-g", "none", "--stdio"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        self.data.unlink(missing_ok=True)
        shares: dict[str, float] = {}
        for line in report.splitlines():
            match = re.match(r"\s*([\d.]+)%\s+(\S+)", line)
            if match:
                name = _dso(match.group(2))
                shares[name] = shares.get(name, 0.0) + float(match.group(1)) / 100
        return shares


def _dso(raw: str) -> str:
    """``DSO_NAMES``' name for a perf shared object, else the object's own short name."""
    if raw.startswith("[kernel"):
        return DSO_NAMES["kernel"]
    for prefix, name in DSO_NAMES.items():
        if raw.startswith(prefix + ".") or raw.startswith(prefix + "3"):
            return name
    return raw.split(".so")[0].split(".cpython")[0]


@dataclass
class Transfer:
    """One direction's figures: rate, CPU seconds by thread, Spyglass's split by object."""

    rate: float
    threads: dict[str, float]
    objects: dict[str, float]


def profile(url: str, root: int, size: int, backend: str) -> tuple[Transfer, Transfer]:
    """One upload and one download, each measured by thread and by shared object."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    with httpx.Client(base_url=url, timeout=600) as client:
        image = client.post(
            "/v2/images",
            json={"name": f"profile-{uuid.uuid4()}", "disk_format": "raw",
                  "container_format": "bare"},
        ).json()  # fmt: skip
        ours = server_pids(root)
        pids = ours + backend_pids(backend)
        results = []
        for upload in (True, False):
            before = thread_times(pids)
            with Perf(ours) as perf:
                if upload:
                    seconds = http.upload(host, port, image["id"], size, chunked=True)
                else:
                    seconds = http.download(host, port, image["id"], size)
            threads = _minus(thread_times(pids), before)
            results.append(Transfer(size / seconds / 1e6, threads, perf.shares()))
        client.delete(f"/v2/images/{image['id']}")
    return results[0], results[1]


def section(backend: str, direction: str, transfer: Transfer, size: int) -> list[str]:
    """Markdown lines: CPU-s per GiB in Spyglass (by shared object) and in the backend."""
    scale = GIB / size
    ours = sum(v for k, v in transfer.threads.items() if k.startswith("spyglass")) * scale
    theirs = sum(v for k, v in transfer.threads.items() if not k.startswith("spyglass")) * scale
    lines = [
        f"{backend} {direction}: {transfer.rate:.0f} MB/s; CPU-s per GiB: Spyglass "
        f"{ours:.2f}, the backend's servers {theirs:.2f}.",
        "",
        "| where | CPU-s per GiB |",
        "|---|---:|",
    ]
    for name, share in sorted(transfer.objects.items(), key=lambda item: -item[1]):
        if share * ours >= 0.05:
            lines.append(f"| Spyglass: {name} | {share * ours:.2f} |")
    for name, seconds in sorted(transfer.threads.items(), key=lambda item: -item[1]):
        if not name.startswith("spyglass") and seconds * scale >= 0.05:
            lines.append(f"| {name} | {seconds * scale:.2f} |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image size in MiB")
    parser.add_argument("--backends", default="filesystem,rbd,swift,s3")
    parser.add_argument("--output", type=Path, default=None, help="docs/performance.md")
    args = parser.parse_args(argv)
    size = args.size * MIB
    lines: list[str] = []
    for name in args.backends.split(","):
        backend = load(name.strip())
        reason = backend.unavailable()
        if reason is not None:
            print(f"{backend.name}: skipped: {reason}")
            continue
        work = REPO / ".bench" / "thread-cpu" / backend.name
        work.mkdir(parents=True, exist_ok=True)
        server = Spyglass(work, backend.spyglass_lines(work))
        server.start(fresh=True)
        try:
            upload, download = profile(server.url, server.pid(), size, backend.name)
        finally:
            server.stop()
        lines += section(backend.name, "upload", upload, size)
        lines += section(backend.name, "download", download, size)
    text = "\n".join(lines)
    print(text)
    if args.output is not None:
        intro = (
            f"`python bench/thread_cpu.py --size {args.size} --backends {args.backends} "
            f"--output docs/performance.md` at revision {revision()} (load average "
            f"{os.getloadavg()[0]:.1f}): one {args.size} MiB upload and download per store "
            "through Spyglass (2 workers), CPU seconds per GiB from /proc for every thread of "
            "Spyglass and of the backend's servers, and Spyglass's own split by shared "
            "object from perf samples (the interpreter's share includes the store drivers' "
            "Python)."
        )
        replace_section(args.output, HEADING, f"{intro}\n\n{text}")


if __name__ == "__main__":
    main()
