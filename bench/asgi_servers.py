"""The same Spyglass app under different ASGI servers, side by side: 1 GiB download, show req/s.

    python bench/asgi_servers.py [--rounds 3] [--size-mib 1024] [--duration 3] [--no-write]
                                 [--servers NAME,...]

Servers (``--workers 2`` each, SQLite, the filesystem store, 1,000 seeded images):
``spyglass api`` (uvicorn with Spyglass's protocol, downloads by ``sendfile`` through the
zero-copy send extension); stock uvicorn (its own httptools protocol: the store's 1 MiB
reads streamed, the way ``spyglass api`` sent them before); granian (``pathsend`` for whole
files); hypercorn (no file extension: streamed). Each round measures every server in turn,
alternating the order, each right after the ``sendfile`` ceiling (c) of ``bench/run.py``.
Writes the "ASGI servers" section of ``docs/performance.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import http, seed, workloads
from suite.sections import replace_section
from suite.servers import REPO, WORKERS, Server, Spyglass

MIB = 1024 * 1024
LAUNCH = Path(__file__).resolve().parent / "asgi_launch.py"
HEADING = "## ASGI servers"
DATASET = 1000


class Launched(Spyglass):
    """Spyglass's app under the server ``kind`` (``bench/asgi_launch.py``)."""

    def __init__(self, work: Path, kind: str, label: str) -> None:
        super().__init__(work, name=kind)
        self.kind = kind
        self.label = label

    def command(self, config: Path) -> list[str]:
        return [sys.executable, str(LAUNCH), self.kind, self.host, str(self.port),
                str(WORKERS), str(config), str(self.data)]  # fmt: skip


def servers(work: Path) -> list[Spyglass]:
    native = Spyglass(work, name="spyglass")
    native.label = "`spyglass api` (uvicorn + Spyglass's protocol: zero-copy send, sendfile)"
    return [
        native,
        Launched(work, "uvicorn-stock", "uvicorn, its own httptools protocol (streamed)"),
        Launched(work, "granian", "granian 2.8 (`http.response.pathsend`)"),
        Launched(work, "hypercorn", "hypercorn 0.18 (streamed; no file extension)"),
    ]


def prepare(server: Spyglass) -> None:
    """Start once to create the database, seed it, start again and warm up."""
    server.start(fresh=True)
    server.stop()
    seed.seed(server.db_path, 0, DATASET, server.store_dir, server.store_id)
    server.start()
    workloads.warm_up(server)


def measure(server: Server, size: int, checksum: str, duration: float) -> dict[str, float]:
    moved = workloads.transfer(server, size, checksum)
    driver = workloads.MetadataDriver(server)
    figures = {"download": moved.download_mb_s, "upload": moved.upload_mb_s}
    for concurrency in (1, 32):
        figures[f"show {concurrency}"] = driver.run("show", concurrency, duration, warmup=0.3).rps
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--servers", default="", help="comma-separated names (default all)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    checksum = http.pattern_md5(size)
    load_before = os.getloadavg()[0]
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="spyglass-asgi-") as scratch:
        work = Path(scratch)
        chosen = servers(work)
        if args.servers:
            chosen = [s for s in chosen if s.name in args.servers.split(",")]
        values: dict[str, dict[str, list[float]]] = {s.name: {} for s in chosen}
        shares: dict[str, list[float]] = {s.name: [] for s in chosen}
        ceiling: list[float] = []
        try:
            for server in chosen:
                prepare(server)
            for round_index in range(args.rounds):
                order = chosen if round_index % 2 == 0 else chosen[::-1]
                for server in order:
                    # the ceiling right before each server: the load moves within a round
                    ceiling.append(workloads.file_to_socket(size, work, zero_copy=True))
                    figures = measure(server, size, checksum, args.duration)
                    shares[server.name].append(figures["download"] / ceiling[-1])
                    for key, value in figures.items():
                        values[server.name].setdefault(key, []).append(value)
                    print(f"round {round_index + 1} {server.name:14} "
                          + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items()),
                          f"(sendfile ceiling {ceiling[-1]:,.0f} MB/s)", flush=True)  # fmt: skip
        finally:
            for server in chosen:
                server.stop()
    medians = {
        name: {key: statistics.median(v) for key, v in figures.items()}
        | {"share": statistics.median(shares[name])}
        for name, figures in values.items()
    }
    top = statistics.median(ceiling)
    command = "python bench/asgi_servers.py " + " ".join(argv or sys.argv[1:])
    body = section(chosen, medians, top, command.strip(), args, started, load_before)
    print(body)
    if not args.no_write:
        replace_section(REPO / "docs" / "performance.md", HEADING, body)


def section(
    chosen: list[Spyglass],
    medians: dict[str, dict[str, float]],
    top: float,
    command: str,
    args: argparse.Namespace,
    started: datetime,
    load_before: float,
) -> str:
    git = ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]
    revision = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    size = f"{args.size_mib // 1024} GiB" if args.size_mib % 1024 == 0 else f"{args.size_mib} MiB"
    lines = [
        f"| server | download {size} (MB/s) | share of sendfile | upload {size} (MB/s) "
        "| show c=1 (req/s) | show c=32 (req/s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for server in chosen:
        m = medians[server.name]
        lines.append(
            f"| {server.label} | {m['download']:,.0f} | {m['share']:.0%} "
            f"| {m['upload']:,.0f} | {m['show 1']:,.0f} | {m['show 32']:,.0f} |"
        )
    lines.append(f"| ceiling (c): file to socket with `sendfile` | {top:,.0f} | 100% | | | |")
    return (
        f"Command: `{command}`; {started:%Y-%m-%d %H:%M} UTC, revision {revision}, load "
        f"average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after on 2 cores "
        "shared with other work (compare only within this table). The same app "
        f"(`build_app`), {WORKERS} workers each, SQLite and the filesystem "
        f"store, {DATASET:,} seeded images; medians of {args.rounds} round(s), the servers in "
        f"turn, {args.duration:g} s per show figure. The `sendfile` ceiling is measured right "
        "before each server's transfer; a share is the median of those pairs' ratios (the "
        "ceiling row is the median of all). The launcher for the other servers is "
        "`bench/asgi_launch.py`.\n\n" + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    started_at = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - started_at:.0f} s")
