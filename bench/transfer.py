"""Upload and download one large image; print MB/s, the server's CPU per GiB and peak RSS.

Usage: ``python bench/transfer.py --size-mib 1024`` starts a Spyglass server with
embedded defaults under ``.bench/`` and measures it; ``--api v1`` moves the bytes
through Images API v1 (``PUT``/``GET /v1/images/{id}``), ``--api both`` measures v2
and v1 on the same server, in turn, ``--rounds`` times (alternating which goes first),
and prints the medians. ``--url`` and ``--pid`` measure a server that is already
running (upstream Glance, say) instead.

The server's CPU seconds per GiB (all its processes and threads) are the figure to
compare v1 with v2 on a loaded machine: MB/s move with whatever else runs, the work
the server does for each byte does not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from suite import http
from tests.server import LiveServer, RssSampler

MIB = 1024 * 1024
GIB = 1024 * MIB


def cpu_seconds(pid: int | None) -> float:
    """CPU time used so far by the server and its children (threads included)."""
    if pid is None:
        return float("nan")
    process = psutil.Process(pid)
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        times = each.cpu_times()
        total += times.user + times.system
    return total


def run(url: str, pid: int | None, size: int, api: str = "v2") -> dict[str, float]:
    """One upload and one download of ``size`` bytes; figures in MB/s, CPU-s/GiB and MiB.

    The bytes move through ``suite/http.py``'s blocking socket client (one reused buffer
    each way; uploads chunked, as the glance client sends them), not httpx: httpx's
    pure-Python HTTP parsing and copies cost as much CPU as a server on these two cores,
    so it set the download figures of every server (about 100-250 MB/s) instead of
    measuring them."""
    target = urlsplit(url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    with httpx.Client(base_url=url, timeout=600) as client:
        image = client.post(
            "/v2/images",
            json={"name": "bench", "disk_format": "raw", "container_format": "bare"},
        ).json()
        sampler = RssSampler(pid) if pid else None
        if sampler:
            sampler.__enter__()
        cpu = cpu_seconds(pid)
        upload_s = http.upload(host, port, image["id"], size, api, chunked=True)
        upload_cpu = cpu_seconds(pid) - cpu
        shown = client.get(f"/v2/images/{image['id']}").json()
        if shown["checksum"] != http.pattern_md5(size):
            raise SystemExit("checksum mismatch after upload")
        cpu = cpu_seconds(pid)
        download_s = http.download(host, port, image["id"], size, api)
        download_cpu = cpu_seconds(pid) - cpu
        if sampler:
            sampler.__exit__(None, None, None)
        client.delete(f"/v2/images/{image['id']}")
    return {
        "upload_mb_s": size / upload_s / 1e6,
        "download_mb_s": size / download_s / 1e6,
        "upload_cpu_s_gib": upload_cpu * GIB / size,
        "download_cpu_s_gib": download_cpu * GIB / size,
        "peak_rss_mib": (sampler.peak / MIB) if sampler else float("nan"),
    }


def measure(
    url: str, pid: int | None, size: int, apis: tuple[str, ...], rounds: int
) -> dict[str, dict[str, float]]:
    """Every api ``rounds`` times, in turn (the first of one round goes last in the next)."""
    runs: dict[str, list[dict[str, float]]] = {api: [] for api in apis}
    for index in range(rounds):
        order = apis if index % 2 == 0 else tuple(reversed(apis))
        for api in order:
            runs[api].append(run(url, pid, size, api))
    return {
        api: {key: statistics.median(r[key] for r in each) for key in each[0]}
        for api, each in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--url", help="measure this running server instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server process, for RSS and CPU")
    parser.add_argument("--api", choices=("v2", "v1", "both"), default="v2")
    parser.add_argument("--rounds", type=int, default=1, help="medians of this many runs each")
    args = parser.parse_args()
    size = args.size_mib * MIB
    apis = ("v2", "v1") if args.api == "both" else (args.api,)
    if args.url:
        results = measure(args.url, args.pid, size, apis, args.rounds)
    else:
        Path(".bench").mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=".bench") as data:
            server = LiveServer(Path(data)).start()
            try:
                results = measure(server.url, server.pid, size, apis, args.rounds)
            finally:
                server.stop()
    print(f"image size      {args.size_mib} MiB, median of {args.rounds} round(s)")
    for api, figures in results.items():
        print(f"{api} upload       {figures['upload_mb_s']:.0f} MB/s, "
              f"server {figures['upload_cpu_s_gib']:.2f} CPU-s/GiB")  # fmt: skip
        print(f"{api} download     {figures['download_mb_s']:.0f} MB/s, "
              f"server {figures['download_cpu_s_gib']:.2f} CPU-s/GiB")  # fmt: skip
        print(f"{api} server RSS   {figures['peak_rss_mib']:.0f} MiB")
    if len(results) == 2:
        v2, v1 = results["v2"], results["v1"]
        for what in ("upload", "download"):
            cpu = v1[f"{what}_cpu_s_gib"] / v2[f"{what}_cpu_s_gib"]
            speed = v1[f"{what}_mb_s"] / v2[f"{what}_mb_s"]
            print(f"v1/v2 {what:9} {speed:.2f}x MB/s, {cpu:.2f}x server CPU per byte")


if __name__ == "__main__":
    main()
