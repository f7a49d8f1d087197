"""Upload and download one large image; print MB/s and the server's peak RSS.

Usage: ``python bench/transfer.py --size-mib 1024`` starts a Spyglass server with
embedded defaults under ``.bench/`` and measures it; ``--api v1`` moves the bytes
through Images API v1 (``PUT``/``GET /v1/images/{id}``), ``--api both`` measures v2
then v1 on the same server. ``--url`` and ``--pid``
measure a server that is already running (upstream Glance, say) instead.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.server import LiveServer, RssSampler, pattern_stream

MIB = 1024 * 1024


def run(url: str, pid: int | None, size: int, api: str = "v2") -> dict[str, float]:
    """One upload and one download of ``size`` bytes; figures in MB/s and MiB."""
    data_url = "/v1/images/{id}" if api == "v1" else "/v2/images/{id}/file"
    expected = hashlib.md5(usedforsecurity=False)
    for piece in pattern_stream(size):
        expected.update(piece)
    with httpx.Client(base_url=url, timeout=600) as client:
        image = client.post(
            "/v2/images",
            json={"name": "bench", "disk_format": "raw", "container_format": "bare"},
        ).json()
        sampler = RssSampler(pid) if pid else None
        if sampler:
            sampler.__enter__()
        started = time.perf_counter()
        response = client.put(
            data_url.format(id=image["id"]),
            content=pattern_stream(size),
            headers={"Content-Type": "application/octet-stream"},
        )
        upload_s = time.perf_counter() - started
        response.raise_for_status()
        shown = client.get(f"/v2/images/{image['id']}").json()
        if shown["checksum"] != expected.hexdigest():
            raise SystemExit("checksum mismatch after upload")
        started = time.perf_counter()
        received = 0
        with client.stream("GET", data_url.format(id=image["id"])) as download:
            for chunk in download.iter_raw(MIB):
                received += len(chunk)
        download_s = time.perf_counter() - started
        if received != size:
            raise SystemExit(f"downloaded {received} bytes, expected {size}")
        if sampler:
            sampler.__exit__(None, None, None)
        client.delete(f"/v2/images/{image['id']}")
    return {
        "upload_mb_s": size / upload_s / 1e6,
        "download_mb_s": size / download_s / 1e6,
        "peak_rss_mib": (sampler.peak / MIB) if sampler else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--url", help="measure this running server instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server process, for RSS")
    parser.add_argument("--api", choices=("v2", "v1", "both"), default="v2")
    args = parser.parse_args()
    size = args.size_mib * MIB
    apis = ("v2", "v1") if args.api == "both" else (args.api,)
    results: dict[str, dict[str, float]] = {}
    if args.url:
        results = {api: run(args.url, args.pid, size, api) for api in apis}
    else:
        Path(".bench").mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=".bench") as data:
            server = LiveServer(Path(data)).start()
            try:
                results = {api: run(server.url, server.pid, size, api) for api in apis}
            finally:
                server.stop()
    print(f"image size      {args.size_mib} MiB")
    for api, figures in results.items():
        print(f"{api} upload       {figures['upload_mb_s']:.0f} MB/s")
        print(f"{api} download     {figures['download_mb_s']:.0f} MB/s")
        print(f"{api} server RSS   {figures['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
