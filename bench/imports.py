"""Interoperable import beside a plain upload: the same image through
``PUT /file``, through ``PUT /stage`` + glance-direct, and through web-download
from a local HTTP server; prints MB/s (request to ``active``), the server's CPU
seconds per GiB and its peak RSS.

Usage: ``python bench/imports.py --size-mib 256 [--rounds 3]``. An import moves
the bytes twice (into staging, then into the store), so it is expected to cost
about twice an upload's disk writes; the figure to watch is that memory stays
flat and CPU per GiB stays within about twice the upload's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.server
sys.path.insert(0, str(Path(__file__).resolve().parent))  # transfer, as the other scripts do

from tests.server import LiveServer, RssSampler, pattern_stream
from transfer import cpu_seconds

MIB = 1024 * 1024
GIB = 1024 * MIB
OCTET = {"Content-Type": "application/octet-stream"}


def _serve(size: int) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            for piece in pattern_stream(size):
                self.wfile.write(piece)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _wait_active(client: httpx.Client, image_id: str) -> None:
    while client.get(f"/v2/images/{image_id}").json()["status"] != "active":
        time.sleep(0.05)


def one(client: httpx.Client, how: str, size: int, web_port: int) -> float:
    image_id = client.post(
        "/v2/images", json={"name": how, "disk_format": "raw", "container_format": "bare"}
    ).json()["id"]
    start = time.perf_counter()
    if how == "upload":
        client.put(f"/v2/images/{image_id}/file", content=pattern_stream(size), headers=OCTET)
    elif how == "glance-direct":
        client.put(f"/v2/images/{image_id}/stage", content=pattern_stream(size), headers=OCTET)
        client.post(f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}})
    else:
        uri = f"http://127.0.0.1:{web_port}/image"
        client.post(
            f"/v2/images/{image_id}/import", json={"method": {"name": "web-download", "uri": uri}}
        )
    _wait_active(client, image_id)
    elapsed = time.perf_counter() - start
    client.delete(f"/v2/images/{image_id}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MIB
    web, port = _serve(size)
    root = Path(tempfile.mkdtemp(prefix="spyglass-bench-imports-"))
    server = LiveServer(
        root / "server",
        [
            f"node_staging_uri = file://{root / 'staging'}",
            "[import_filtering_opts]",
            "allowed_hosts = 127.0.0.1",
            f"allowed_ports = {port}",
        ],
    ).start()
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        with (
            httpx.Client(base_url=server.url, timeout=600, trust_env=False) as client,
            RssSampler(server.pid) as rss,
        ):
            for _ in range(args.rounds):
                for how in ("upload", "glance-direct", "web-download"):
                    before = cpu_seconds(server.pid)
                    elapsed = one(client, how, size, port)
                    cpu = (cpu_seconds(server.pid) - before) / (size / GIB)
                    results.setdefault(how, []).append((size / MIB / elapsed, cpu))
    finally:
        server.stop()
        web.shutdown()
    print(f"{args.size_mib} MiB, median of {args.rounds}; server peak RSS {rss.peak / MIB:.0f} MiB")
    print(f"{'path':<14} {'MiB/s':>8} {'CPU-s/GiB':>10}")
    for how, figures in results.items():
        rate = statistics.median(f[0] for f in figures)
        cpu = statistics.median(f[1] for f in figures)
        print(f"{how:<14} {rate:>8.0f} {cpu:>10.2f}")


if __name__ == "__main__":
    main()
