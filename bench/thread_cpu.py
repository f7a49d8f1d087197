"""Where a store transfer's CPU goes: seconds per GiB by thread, in Spyglass and in the backend.

    python bench/thread_cpu.py [--size MIB] [--backend rbd] [--rounds N]

Starts Spyglass on the backend (``bench/store_backends/<name>.py``), uploads and downloads
one image with the light socket client of ``suite/http.py``, and reads every thread's
CPU time from ``/proc`` before and after each transfer: in the Spyglass processes (the
event loop, the two hash threads, the worker threads that call the store's client
library, the library's own threads) and in the backend's server processes (matched by
name: ``ceph-osd``, ``swift-*``, moto). Thread names have their numbers folded
(``msgr-worker-0`` and ``-1`` are one line). The figures are the profile that says why a
transfer runs at the rate it does on this machine; they are printed, not written to
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.server
sys.path.insert(0, str(Path(__file__).resolve().parent))  # store_backends, suite

from store_backends import load
from suite import http
from suite.servers import REPO, Spyglass

MIB = 1024 * 1024
GIB = 1024 * MIB
TICK = float(os.sysconf("SC_CLK_TCK"))
BACKEND_PROCESSES = re.compile(r"ceph-osd|ceph-mon|swift-|moto|memcached")


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


def backend_pids() -> list[int]:
    return [
        p.pid
        for p in psutil.process_iter(["name", "cmdline"])
        if BACKEND_PROCESSES.search(" ".join(p.info["cmdline"] or [p.info["name"] or ""]))
    ]


def server_pids(root: int) -> list[int]:
    process = psutil.Process(root)
    return [root, *(child.pid for child in process.children(recursive=True))]


def _minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def profile(
    url: str, root: int, size: int
) -> tuple[dict[str, float], dict[str, float], float, float]:
    """CPU seconds by thread during one upload and during one download, and their MB/s."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    with httpx.Client(base_url=url, timeout=600) as client:
        image = client.post(
            "/v2/images",
            json={"name": f"profile-{uuid.uuid4()}", "disk_format": "raw",
                  "container_format": "bare"},
        ).json()  # fmt: skip
        pids = server_pids(root) + backend_pids()
        before = thread_times(pids)
        up_s = http.upload(host, port, image["id"], size)
        after_upload = thread_times(pids)
        down_s = http.download(host, port, image["id"], size)
        after_download = thread_times(pids)
        client.delete(f"/v2/images/{image['id']}")
    upload = _minus(after_upload, before)
    download = _minus(after_download, after_upload)
    return upload, download, size / up_s / 1e6, size / down_s / 1e6


def report(title: str, spent: dict[str, float], size: int, rate: float) -> None:
    scale = GIB / size
    total = sum(spent.values()) * scale
    print(f"\n{title}: {rate:.0f} MB/s, {total:.2f} CPU-s per GiB in all")
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        if seconds * scale >= 0.05:
            print(f"  {seconds * scale:6.2f}  {name}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image size in MiB")
    parser.add_argument("--backend", default="rbd")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    backend = load(args.backend)
    reason = backend.unavailable()
    if reason is not None:
        raise SystemExit(f"{backend.name}: {reason}")
    work = REPO / ".bench" / "thread-cpu" / backend.name
    work.mkdir(parents=True, exist_ok=True)
    server = Spyglass(work, backend.spyglass_lines(work))
    server.start(fresh=True)
    try:
        for _ in range(args.rounds):
            up, down, up_rate, down_rate = profile(server.url, server.pid(), args.size * MIB)
            report(f"{backend.name} upload", up, args.size * MIB, up_rate)
            report(f"{backend.name} download", down, args.size * MIB, down_rate)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
