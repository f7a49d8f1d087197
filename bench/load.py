"""A bounded mixed load on a server: 50 clients for 2 minutes of create, upload, download
(each checked against its checksum), list, patch and delete (``tests/load/mixed.py``).

Full form (a server it starts itself on SQLite, figures for docs/performance.md):

    .venv/bin/python bench/load.py --clients 50 --duration 120

Against a server already running (``--url``), it only drives the load. The short CI
form is ``tests/load/test_mixed_load.py``. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.load.mixed import open_fds, rss_mib, run_load
from tests.server import LiveServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--max-size", type=int, default=512 * 1024)
    args = parser.parse_args()
    if args.url:
        report = asyncio.run(run_load(args.url, clients=args.clients, duration=args.duration,
                                      sizes=(1024, args.max_size)))  # fmt: skip
        print(json.dumps(report.summary(), indent=2))
        return 1 if report.errors or report.mismatches else 0

    with tempfile.TemporaryDirectory(prefix="spyglass-load-") as tmp:
        server = LiveServer(Path(tmp)).start()
        try:
            asyncio.run(run_load(server.url, clients=5, duration=3))  # warm up
            fds, rss = open_fds(server.pid), rss_mib(server.pid)
            samples: list[float] = []
            report = asyncio.run(
                run_load(server.url, clients=args.clients, duration=args.duration,
                         sizes=(1024, args.max_size),
                         on_tick=lambda _: samples.append(rss_mib(server.pid)))
            )  # fmt: skip
            time.sleep(1.0)
            summary = report.summary()
            summary.update(
                fds_before=fds, fds_after=open_fds(server.pid), rss_before_mib=round(rss, 1),
                rss_after_mib=round(rss_mib(server.pid), 1),
                rss_peak_mib=round(max(samples, default=rss), 1),
                rss_first_half_peak_mib=round(max(samples[: len(samples) // 2], default=rss), 1),
                load_average=os.getloadavg(),
            )  # fmt: skip
            print(json.dumps(summary, indent=2))
            for reason in (report.errors + report.mismatches)[:5]:
                print("  ", reason)
        finally:
            server.stop()
    return 1 if report.errors or report.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
