"""Upload and download MB/s of one image per store: Spyglass, the backend's own client, upstream.

    python bench/stores.py [--size MIB] [--backends filesystem,s3,...] [--rounds N]
                           [--no-upstream] [--output PATH]

For each backend (a module ``bench/store_backends/<name>.py``), in one run: the backend's
own client moves an N-MiB image (default 1 GiB) from a file and back; Spyglass (uvicorn,
2 workers) with its default store on that backend takes the same bytes over
``PUT /v2/images/{id}/file`` and serves them over ``GET``; upstream Glance 33.0.0 with
glance_store on the same backend (``bench/upstream/glance.sh``) does the same. Uploads are
checked by MD5, downloads by length; the servers' peak RSS is sampled. With ``--rounds``
above 1 the order alternates and medians are reported. Backends that are not available
here are skipped with the reason. Writes the "Stores" section of ``docs/performance.md``
(other sections are kept).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.server
sys.path.insert(0, str(Path(__file__).resolve().parent))  # store_backends, suite

from store_backends import StoreBackend, UpstreamStore, load
from suite.sections import replace_section
from suite.servers import GLANCE_SH, REPO, WORKERS, Server, Spyglass, Upstream
from tests.server import pattern_stream
from transfer import MIB, run

HEADING = "## Stores"
MOVERS = ("own client", "Spyglass", "upstream")


@dataclass
class Figures:
    """MB/s and peak RSS (MiB) of every round, per mover."""

    upload: dict[str, list[float]] = field(default_factory=dict)
    download: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)

    def add(self, mover: str, upload: float, download: float, rss: float) -> None:
        self.upload.setdefault(mover, []).append(upload)
        self.download.setdefault(mover, []).append(download)
        self.rss.setdefault(mover, []).append(rss)


class StoreUpstream(Upstream):
    """Upstream Glance whose default backend is the benchmarked store."""

    def __init__(self, work: Path, store: UpstreamStore) -> None:
        super().__init__(work)
        self.store = store
        self.store_conf = work / "upstream-store.conf"

    def _env(self, keep: bool) -> dict[str, str]:
        self.work.mkdir(parents=True, exist_ok=True)
        self.store_conf.write_text(self.store.sections)
        return {
            **super()._env(keep),
            "UPSTREAM_BACKENDS": self.store.backends,
            "UPSTREAM_DEFAULT_BACKEND": self.store.default,
            "UPSTREAM_STORE_CONF": str(self.store_conf),
            "UPSTREAM_PIP": " ".join(self.store.pip),
        }

    def install_for_store(self) -> None:
        """``install``, adding the packages the backend's glance_store driver needs."""
        subprocess.run([str(GLANCE_SH), "install"], env=self._env(keep=True), check=True)


def write_source(path: Path, size: int) -> None:
    """The benchmark's bytes as a file, for the own client (the servers get the same stream)."""
    if path.exists() and path.stat().st_size == size:
        return
    with path.open("wb") as out:
        for piece in pattern_stream(size):
            out.write(piece)


def own_client(backend: StoreBackend, source: Path, size: int) -> tuple[float, float]:
    name = f"bench-{uuid.uuid4()}"
    started = time.perf_counter()
    backend.own_upload(source, name)
    upload_s = time.perf_counter() - started
    try:
        started = time.perf_counter()
        read = backend.own_download(name)
        download_s = time.perf_counter() - started
    finally:
        backend.own_delete(name)
    if read != size:
        raise SystemExit(f"{backend.name}: own client read {read} bytes, expected {size}")
    return size / upload_s / 1e6, size / download_s / 1e6


def through(server: Server, size: int) -> tuple[float, float, float]:
    server.start(fresh=True)
    try:
        figures = run(server.url, server.pid(), size)
    finally:
        server.stop()
    return figures["upload_mb_s"], figures["download_mb_s"], figures["peak_rss_mib"]


def measure(backend: StoreBackend, work: Path, size: int, rounds: int, upstream: bool) -> Figures:
    work.mkdir(parents=True, exist_ok=True)
    source = work / "source.img"
    write_source(source, size)
    steps: list[tuple[str, Callable[[], tuple[float, float, float]]]] = [
        ("own client", lambda: (*own_client(backend, source, size), float("nan"))),
        ("Spyglass", lambda: through(Spyglass(work, backend.spyglass_lines(work)), size)),
    ]
    if upstream:
        upstream_server = StoreUpstream(work, backend.upstream_store(work))
        upstream_server.install_for_store()
        steps.append(("upstream", lambda: through(upstream_server, size)))
    figures = Figures()
    for round_ in range(rounds):
        for mover, step in steps if round_ % 2 == 0 else list(reversed(steps)):
            up, down, rss = step()
            figures.add(mover, up, down, rss)
            print(
                f"round {round_ + 1}: {backend.name}: {mover}: upload {up:.0f} MB/s, "
                f"download {down:.0f} MB/s, peak RSS {rss:.0f} MiB"
            )
    source.unlink()
    return figures


def med(values: list[float] | None) -> float:
    return statistics.median(values) if values else float("nan")


def table(results: dict[str, Figures], skipped: dict[str, str]) -> str:
    rows = [
        "| backend | mover | upload MB/s | download MB/s | server peak RSS MiB (all processes) "
        "| Spyglass vs this, up / down |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in results.items():
        ours_up, ours_down = (
            med(figures.upload.get("Spyglass")),
            med(figures.download.get("Spyglass")),
        )
        for mover in MOVERS:
            if mover not in figures.upload:
                continue
            up, down = med(figures.upload[mover]), med(figures.download[mover])
            rss = med(figures.rss[mover])
            ratio = "" if mover == "Spyglass" else f"{ours_up / up:.0%} / {ours_down / down:.0%}"
            rss_text = "" if rss != rss else f"{rss:.0f}"  # NaN: no server
            rows.append(f"| {name} | {mover} | {up:.0f} | {down:.0f} | {rss_text} | {ratio} |")
    rows += [f"| {name} | skipped: {reason} | | | | |" for name, reason in skipped.items()]
    return "\n".join(rows)


def verdicts(results: dict[str, Figures]) -> str:
    """Which targets each backend met: 90% of its own client, 1.5x upstream."""
    lines = []
    for name, figures in results.items():
        ours = (med(figures.upload.get("Spyglass")), med(figures.download.get("Spyglass")))
        parts = []
        for mover, target in (("own client", 0.9), ("upstream", 1.5)):
            if mover not in figures.upload:
                continue
            theirs = (med(figures.upload[mover]), med(figures.download[mover]))
            for what, mine, other in zip(("upload", "download"), ours, theirs, strict=True):
                ratio = mine / other
                met = "met" if ratio >= target else "missed"
                parts.append(f"{what} {ratio:.2f}x {mover} ({met}, target {target:g}x)")
        lines.append(f"{name}: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def revision() -> str:
    result = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="image size in MiB")
    parser.add_argument("--backends", default="filesystem", help="comma-separated module names")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-upstream", action="store_true")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    args = parser.parse_args(argv)
    size = args.size * MIB
    results: dict[str, Figures] = {}
    skipped: dict[str, str] = {}
    load_before = os.getloadavg()[0]
    for name in args.backends.split(","):
        backend = load(name.strip())
        reason = backend.unavailable()
        if reason is not None:
            print(f"{backend.name}: skipped: {reason}")
            skipped[backend.name] = reason
            continue
        work = REPO / ".bench" / "stores" / backend.name
        results[backend.name] = measure(backend, work, size, args.rounds, not args.no_upstream)
    load_after = os.getloadavg()[0]
    command = f"python bench/stores.py --size {args.size} --backends {args.backends}"
    if args.rounds != 1:
        command += f" --rounds {args.rounds}"
    if args.no_upstream:
        command += " --no-upstream"
    own = "; ".join(f"{name}: {load(name).own_client}" for name in results)
    note = (
        f"`{command}` at revision {revision()}: one {args.size} MiB image per backend, "
        f"uploaded and downloaded by the backend's own client ({own}), through Spyglass "
        f"(uvicorn, {WORKERS} workers, md5 + sha512 and format inspection on upload) and "
        f"through upstream Glance 33.0.0 with glance_store (uWSGI, {WORKERS} processes), all "
        f"on loopback on this 2-core machine, which other jobs shared (load average "
        f"{load_before:.1f} before, {load_after:.1f} after); "
        f"{'medians of ' + str(args.rounds) + ' rounds' if args.rounds > 1 else 'one round'}. "
        "Targets: Spyglass at least 90% of the own client and 1.5x upstream."
    )
    remarks = f"\n\n{verdicts(results)}" if results else ""
    remarks += "".join(f"\n\n{load(name).remark}" for name in results if load(name).remark)
    replace_section(args.output, HEADING, f"{note}\n\n{table(results, skipped)}{remarks}\n")
    print(table(results, skipped))


if __name__ == "__main__":
    main()
