"""Spyglass against upstream Glance, side by side: transfers, metadata, the machine's limits.

    python bench/run.py [--quick] [--rounds N]
                        [--only transfer|metadata|limits|cache|ceilings|startup]
                        [--no-upstream] [--output PATH] [--cache-section]
                        [--ceilings-section] [--startup-section] [--baseline REV]
                        [--operations A,B]

Starts both servers on loopback (Spyglass: uvicorn with 2 workers; upstream Glance 33.0.0
under uWSGI with 2 processes, installed into its own venv by ``bench/upstream/glance.sh``;
both unauthenticated, SQLite in WAL mode, filesystem store), seeds their databases by direct
SQL inserts, runs every workload against each in turn (alternating which goes first),
repeats the rounds, and prints one table of medians with the ratio Spyglass/upstream and
whether each target is met. A full run (no ``--only``) writes ``docs/performance.md``;
partial runs write ``.bench/suite/performance.md`` unless ``--output`` says otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suite import ceilings, http, seed, workloads
from suite.servers import (
    REPO,
    WORKERS,
    RssSampler,
    Server,
    Spyglass,
    Upstream,
    source_digest,
)

MIB = 1024 * 1024
PHASES = ("limits", "transfer", "metadata", "cache", "ceilings", "startup")
TARGET_RSS_MIB = 150


@dataclass
class Plan:
    rounds: int
    duration: float
    sizes: list[int]
    parallel: int
    parallel_size: int
    datasets: list[int]
    limits_size: int
    phases: list[str]
    upstream: bool
    cache_size: int = 1024 * MIB
    cache_parallel: int = 32
    cache_parallel_size: int = 256 * MIB
    operations: tuple[str, ...] = workloads.OPERATIONS
    baseline: Path | None = None  # another revision's ``src``, measured as "before"
    baseline_revision: str = ""


@dataclass
class Results:
    """Per-round values: figure key -> server name -> values."""

    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: str, server: str, value: float) -> None:
        self.values.setdefault(key, {}).setdefault(server, []).append(value)

    def median(self, key: str, server: str) -> float:
        found = [v for v in self.values.get(key, {}).get(server, []) if not math.isnan(v)]
        return statistics.median(found) if found else math.nan

    def spread(self, key: str, server: str) -> tuple[float, float]:
        found = [v for v in self.values.get(key, {}).get(server, []) if not math.isnan(v)]
        return (min(found), max(found)) if found else (math.nan, math.nan)


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


def size_label(size: int) -> str:
    return f"{size // 1024**3} GiB" if size % 1024**3 == 0 else f"{size // MIB} MiB"


def alternate(servers: list[Server], round_index: int) -> list[Server]:
    return servers if round_index % 2 == 0 else servers[::-1]


def attempt(results: Results, what: str, action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as exc:  # one failed figure must not lose the rest of the run
        message = f"{what}: {type(exc).__name__}: {exc}"
        results.notes.append(message)
        log(f"  ! {message}")


# --- phases ---------------------------------------------------------------------------


def run_limits(plan: Plan, results: Results, work: Path) -> None:
    for round_index in range(plan.rounds):
        limits = workloads.measure_limits(plan.limits_size, work)
        for name, value in vars(limits).items():
            results.add(f"limit {name}", "machine", value)
        log(
            f"limits round {round_index + 1}: md5+sha512 {limits.hash_mb_s:.0f} MB/s, "
            f"copy {limits.copy_mb_s:.0f} MB/s, loopback {limits.loopback_mb_s:.0f} MB/s"
        )


def _transfer_once(
    results: Results,
    server: Server,
    label: str,
    size: int,
    parallel: int,
    checksum: str,
    api: str = "v2",
) -> None:
    figures = workloads.transfer(server, size, checksum, parallel, api)
    if api == "v1":  # Spyglass only (upstream has no v1 any more), beside its own v2
        label = f"v1 {label}"
    results.add(f"upload {label}", server.name, figures.upload_mb_s)
    results.add(f"download {label}", server.name, figures.download_mb_s)
    results.add("rss process transfer", server.name, figures.rss_process_mib)
    results.add("rss total transfer", server.name, figures.rss_total_mib)
    results.add(f"failed {label}", server.name, figures.failed)
    if figures.failed:
        results.notes.append(
            f"{server.name}, {label}: {figures.failed} upload(s) failed ({figures.first_error}); "
            "MB/s count the bytes of the others"
        )
    log(
        f"{server.name:8} {label:>14}: up {figures.upload_mb_s:6.0f} MB/s, "
        f"down {figures.download_mb_s:6.0f} MB/s, RSS {figures.rss_process_mib:.0f} MiB "
        f"largest process, {figures.rss_total_mib:.0f} MiB total"
        + (f", {figures.failed} uploads FAILED: {figures.first_error}" if figures.failed else "")
    )


def run_transfers(plan: Plan, results: Results, servers: list[Server]) -> None:
    checksums = {size: http.pattern_md5(size) for size in {*plan.sizes, plan.parallel_size}}
    batches = [(size, 1) for size in plan.sizes] + [(plan.parallel_size, plan.parallel)]
    for round_index in range(plan.rounds):
        log(f"transfers, round {round_index + 1}")
        for size, parallel in batches:
            label = size_label(size) if parallel == 1 else f"{parallel} x {size_label(size)}"
            for server in alternate(servers, round_index):
                apis = ["v2"]
                if server.name == "spyglass" and parallel == 1:
                    # v1 beside v2 on the same server, in turn (alternating which goes
                    # first): whichever runs second inherits the other's page-cache
                    # writeback, which otherwise shows as a v1/v2 difference
                    apis = ["v2", "v1"] if round_index % 2 == 0 else ["v1", "v2"]
                for api in apis:
                    attempt(
                        results,
                        f"{server.name} {api} transfer {label}",
                        partial(
                            _transfer_once,
                            results,
                            server,
                            label,
                            size,
                            parallel,
                            checksums[size],
                            api,
                        ),
                    )


def ensure_dataset(servers: list[Server], count: int) -> None:
    """Stop the servers, top their databases up to ``count`` seeded images, restart."""
    for server in servers:
        server.stop()
        present = seed.count_images(server.db_path)
        if present < count:
            started = time.perf_counter()
            seed.seed(server.db_path, present, count, server.store_dir, server.store_id)
            elapsed = time.perf_counter() - started
            log(f"{server.name}: seeded {count - present} images in {elapsed:.1f} s")
        server.start()
        workloads.warm_up(server)


def dataset_label(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def run_metadata(
    plan: Plan, results: Results, servers: list[Server], bare: Server | None = None
) -> None:
    """Every operation on every server in turn; after each ``show`` the bare route
    (the framework's ceiling) under the same load, when there is one."""
    bare_driver = workloads.MetadataDriver(bare) if bare is not None else None
    for count in plan.datasets:
        ensure_dataset(servers, count)
        drivers = {server.name: workloads.MetadataDriver(server) for server in servers}
        with contextlib.ExitStack() as stack:
            samplers = {s.name: stack.enter_context(RssSampler(s.pid())) for s in servers}
            for round_index in range(plan.rounds):
                for concurrency in (1, 32):
                    for operation in plan.operations:
                        key = f"{operation}|{concurrency}|{count}"
                        line = []
                        for server in alternate(servers, round_index):
                            figures = drivers[server.name].run(
                                operation, concurrency, plan.duration, warmup=0.3
                            )
                            results.add(key + "|rps", server.name, figures.rps)
                            results.add(key + "|p50", server.name, figures.p50_ms)
                            results.add(key + "|p99", server.name, figures.p99_ms)
                            results.add(key + "|client", server.name, figures.client_cpu_share)
                            results.add(key + "|errors", server.name, figures.errors)
                            line.append(
                                f"{server.name} {figures.rps:6.0f}/s "
                                f"p50 {figures.p50_ms:6.1f} p99 {figures.p99_ms:6.1f} ms"
                                + (f" ({figures.errors} errors)" if figures.errors else "")
                            )
                        if bare_driver is not None and operation == "show":
                            figures = bare_driver.run(
                                operation, concurrency, plan.duration, warmup=0.3
                            )
                            results.add(f"ceiling|{concurrency}|{count}", "bare", figures.rps)
                            line.append(f"bare {figures.rps:6.0f}/s")
                        log(
                            f"round {round_index + 1} {dataset_label(count):>4} c={concurrency:<2} "
                            f"{operation:17} " + " | ".join(line)
                        )
            for name, sampler in samplers.items():
                sampler.sample()
                results.add("rss process metadata", name, sampler.peak_process / MIB)
                results.add("rss total metadata", name, sampler.peak_total / MIB)


def run_ceilings(plan: Plan, results: Results, work: Path) -> None:
    """The machine's ceilings for transfers (best of 3 each) and Spyglass's start-up."""
    size = plan.limits_size
    hashed = ceilings.best(3, lambda: ceilings.socket_to_file_hashed(size, work))
    results.add("limit hashed_copy_mb_s", "machine", hashed)
    sent = ceilings.best(3, lambda: workloads.file_to_socket(size, work, zero_copy=True))
    results.add("limit sendfile_mb_s", "machine", sent)
    log(f"ceilings: socket to file + md5/sha512 {hashed:.0f} MB/s, sendfile {sent:.0f} MB/s")


def run_startup(plan: Plan, results: Results, work: Path) -> None:
    """``spyglass api`` to its first answer and its workers' memory; with ``--baseline``
    the other revision in turn (alternating which goes first, round by round)."""
    variants = [("spyglass", None)] + ([("before", plan.baseline)] if plan.baseline else [])
    for round_index in range(plan.rounds):
        order = variants if round_index % 2 == 0 else variants[::-1]
        for name, source in order:
            started = ceilings.start_up(work / "startup", name=name, source=source)
            results.add("startup seconds", name, started.seconds)
            results.add("startup worker rss", name, started.worker_rss_mib)
            results.add("startup load", name, os.getloadavg()[0])
            log(
                f"round {round_index + 1} {name}: start-up to first answer "
                f"{started.seconds:.2f} s, worker RSS at rest {started.worker_rss_mib:.0f} MiB"
            )


def run_cache(plan: Plan, results: Results, work: Path) -> None:
    """The image cache: a miss, a hit and an uncached download of one large image, and
    concurrent hits of one cached image, next to upstream's cache (``cachemanagement``);
    plus what the machine does sending a file to a socket."""
    for _ in range(3):
        best = max(
            workloads.file_to_socket(plan.cache_size, work, zero_copy=False, block=block)
            for block in (MIB, 4 * MIB)
        )
        results.add("limit send_mb_s", "machine", best)
        value = workloads.file_to_socket(plan.cache_size, work, zero_copy=True)
        results.add("limit sendfile_mb_s", "machine", value)
    run = work / "cache-run"
    cached = Spyglass(run, [f"image_cache_dir = {run / 'spyglass' / 'cache'}",
                            "[paste_deploy]", "flavor = cachemanagement"])  # fmt: skip
    plain = Spyglass(work / "nocache-run")
    servers: list[Server] = [cached]
    if plan.upstream:
        servers.append(Upstream(run, cache=True))
    size, label = plan.cache_size, size_label(plan.cache_size)
    many = f"{plan.cache_parallel} x {size_label(plan.cache_parallel_size)}"
    checksum = http.pattern_md5(size)
    try:
        for server in [*servers, plain]:
            server.start(fresh=True)
        for round_index in range(plan.rounds):
            for server in alternate(servers, round_index):

                def once(server: Server = server) -> None:
                    figures = workloads.cache_miss_and_hit(server, size, checksum)
                    results.add(f"cache miss {label}", server.name, figures.miss_mb_s)
                    results.add(f"cache hit {label}", server.name, figures.hit_mb_s)
                    value = workloads.cached_parallel(
                        server, plan.cache_parallel_size, plan.cache_parallel
                    )
                    results.add(f"cache hits {many}", server.name, value)
                    log(
                        f"{server.name:8} cache {label}: miss {figures.miss_mb_s:6.0f} MB/s, "
                        f"hit {figures.hit_mb_s:6.0f} MB/s; {many} hits {value:6.0f} MB/s"
                    )

                attempt(results, f"{server.name} cache", once)

            def uncached() -> None:
                value = workloads.uncached_download(plain, size)
                results.add(f"cache none {label}", "spyglass", value)
                log(f"spyglass uncached {label}: {value:6.0f} MB/s")

            attempt(results, "spyglass uncached download", uncached)
    finally:
        for server in [*servers, plain]:
            server.stop()


def cache_rows(results: Results, plan: Plan) -> list[Row]:
    """The cache figures, with the issue's targets."""
    s, u = "spyglass", "upstream"
    label = size_label(plan.cache_size)
    many = f"{plan.cache_parallel} x {size_label(plan.cache_parallel_size)}"
    send = results.median("limit send_mb_s", "machine")
    none = results.median(f"cache none {label}", s)
    rows = []
    for key, figure in (
        (f"cache miss {label}", f"download {label}, cache miss (MB/s)"),
        (f"cache hit {label}", f"download {label}, cache hit (MB/s)"),
        (f"cache none {label}", f"download {label}, no cache (MB/s)"),
        (f"cache hits {many}", f"{many} concurrent cache hits, aggregate (MB/s)"),
    ):
        if key not in results.values:
            continue
        ms, mu = results.median(key, s), results.median(key, u)
        r = ratio(ms, mu)
        target = ""
        if key.startswith("cache miss"):
            share = ratio(ms, none)
            target = verdict(
                None if math.isnan(share) else share >= 0.9,
                f"≥90% of no cache ({fmt(share * 100)}%)",
            )
        elif key.startswith("cache hit "):
            share = ratio(ms, send)
            target = "; ".join(
                [
                    verdict(
                        None if math.isnan(share) else share >= 0.9,
                        f"≥90% of file-to-socket ({fmt(share * 100)}%)",
                    ),
                    verdict(None if math.isnan(r) else r >= 1.5, "≥1.5x upstream"),
                ]
            )
        rows.append(Row(figure, fmt(ms), fmt(mu), times(r), target))
    return rows


# --- the table ------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    spyglass: str
    upstream: str
    ratio: str
    target: str = ""


def fmt(value: float, digits: int = 0) -> str:
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def times(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:,.2f}x"


def verdict(ok: bool | None, text: str) -> str:
    if ok is None:
        return f"{text}: ?"
    return f"{text}: {'met' if ok else 'MISSED'}"


def v1_row(results: Results, key: str) -> Row:
    """Spyglass's v1 transfer beside its own v2 one: the same pipeline, so within 5%."""
    direction, _, label = key.split(" ", 2)
    v1 = results.median(key, "spyglass")
    v2 = results.median(f"{direction} {label}", "spyglass")
    r = ratio(v1, v2)
    ok = None if math.isnan(r) else r >= 0.95
    return Row(
        f"{key} (MB/s)",
        fmt(v1),
        "— (no v1)",
        times(r) + " of v2",
        verdict(ok, f"within 5% of Spyglass v2 ({fmt(v2)} MB/s)"),
    )


def build_rows(results: Results, plan: Plan) -> list[Row]:
    rows: list[Row] = []
    s, u = "spyglass", "upstream"
    hash_rate = results.median("limit hash_mb_s", "machine")
    copy_rate = results.median("limit copy_mb_s", "machine")

    for key in [k for k in results.values if k.startswith(("upload ", "download "))]:
        if key.split(" ", 2)[1] == "v1":
            rows.append(v1_row(results, key))
            continue
        ms, mu = results.median(key, s), results.median(key, u)
        r = ratio(ms, mu)
        target = ""
        if key == "upload 1 GiB":
            share = ratio(ms, hash_rate)
            target = "; ".join(
                [
                    verdict(None if math.isnan(r) else r >= 1.5, "≥1.5x"),
                    verdict(
                        None if math.isnan(share) else share >= 0.8,
                        f"≥80% of md5+sha512 ({fmt(share * 100)}%)",
                    ),
                ]
            )
        elif key == "download 1 GiB":
            share = ratio(ms, copy_rate)
            target = "; ".join(
                [
                    verdict(None if math.isnan(r) else r >= 2, "≥2x"),
                    verdict(
                        None if math.isnan(share) else share >= 0.7,
                        f"≥70% of copy ({fmt(share * 100)}%)",
                    ),
                ]
            )
        cells = []
        for name, value in ((s, ms), (u, mu)):
            label = key.split(" ", 1)[1]
            failed = sum(results.values.get(f"failed {label}", {}).get(name, []))
            cells.append(fmt(value) + (f" ({failed:.0f} uploads failed)" if failed else ""))
        rows.append(Row(f"{key} (MB/s)", cells[0], cells[1], times(r), target))

    for phase in ("transfer", "metadata"):
        key = f"rss process {phase}"
        if key not in results.values:
            continue
        ms, mu = (
            max(results.values[key].get(s, [math.nan])),
            max(results.values[key].get(u, [math.nan])),
        )
        ts = max(results.values[f"rss total {phase}"].get(s, [math.nan]))
        tu = max(results.values[f"rss total {phase}"].get(u, [math.nan]))
        rows.append(
            Row(
                f"peak RSS, {phase}, largest process / all (MiB)",
                f"{fmt(ms)} / {fmt(ts)}",
                f"{fmt(mu)} / {fmt(tu)}",
                times(ratio(ms, mu)),
                verdict(
                    None if math.isnan(ms) else ms < TARGET_RSS_MIB,
                    f"<{TARGET_RSS_MIB} MiB per worker",
                ),
            )
        )

    for count in plan.datasets:
        for concurrency in (1, 32):
            for operation in workloads.OPERATIONS:
                key = f"{operation}|{concurrency}|{count}"
                if key + "|rps" not in results.values:
                    continue
                cells = []
                for name in (s, u):
                    rps = results.median(key + "|rps", name)
                    errors = sum(results.values.get(key + "|errors", {}).get(name, []))
                    cells.append(
                        "—"
                        if math.isnan(rps)
                        else f"{fmt(rps)}/s, p50 {fmt(results.median(key + '|p50', name), 1)} "
                        f"p99 {fmt(results.median(key + '|p99', name), 1)} ms"
                        + (f" ({errors:.0f} errors)" if errors else "")
                    )
                r = ratio(results.median(key + "|rps", s), results.median(key + "|rps", u))
                targets = []
                if concurrency == 32 and operation in ("show", "create", "list first page"):
                    targets.append(verdict(None if math.isnan(r) else r >= 5, "≥5x req/s"))
                    share = ratio(
                        results.median(key + "|rps", s),
                        results.median(f"ceiling|{concurrency}|{count}", "bare"),
                    )
                    if not math.isnan(share):
                        want = CEILING_TARGETS[operation]
                        targets.append(
                            verdict(share >= want, f"≥{want:.0%} of bare route ({share:.0%})")
                        )
                if concurrency == 1 and operation == "create":
                    p50 = results.median(key + "|p50", s)
                    targets.append(verdict(None if math.isnan(p50) else p50 < 5, "p50 <5 ms"))
                if concurrency == 1 and operation.startswith("list") and count >= 100_000:
                    p99 = results.median(key + "|p99", s)
                    targets.append(verdict(None if math.isnan(p99) else p99 < 50, "p99 <50 ms"))
                rows.append(
                    Row(
                        f"{operation}, c={concurrency}, {dataset_label(count)} images",
                        cells[0],
                        cells[1],
                        times(r),
                        "; ".join(targets),
                    )
                )

    rows += cache_rows(results, plan)
    return rows


CEILING_TARGETS = {"show": 0.25, "list first page": 0.10, "create": 0.05}
"""At concurrency 32 on SQLite: the share of the bare route's req/s each should reach."""


@dataclass
class CeilingRow:
    figure: str
    cells: list[str]  # Spyglass, before (with --baseline), upstream
    ceiling: str
    share: str
    versus_upstream: str
    target: str = ""


def ceiling_rows(results: Results, plan: Plan) -> list[CeilingRow]:
    """Each Spyglass figure beside its ceiling, and beside upstream's."""
    names = ["spyglass", *(["before"] if plan.baseline else []), "upstream"]
    rows: list[CeilingRow] = []

    def add(figure: str, key: str, ceiling: float, want: float | None, digits: int = 0) -> None:
        if key not in results.values:
            return
        values = [results.median(key, name) for name in names]
        share = ratio(values[0], ceiling)
        target = ""
        if want is not None:
            target = verdict(None if math.isnan(share) else share >= want, f"≥{want:.0%}")
        rows.append(
            CeilingRow(
                figure,
                [fmt(v, digits) for v in values],
                fmt(ceiling, digits),
                "—" if math.isnan(share) else f"{share:.0%}",
                times(ratio(values[0], values[-1])),
                target,
            )
        )

    for count in plan.datasets:
        for concurrency in (1, 32):
            bare = results.median(f"ceiling|{concurrency}|{count}", "bare")
            for operation in ("show", "list first page", "create"):
                want = CEILING_TARGETS[operation] if concurrency == 32 else None
                add(
                    f"{operation}, c={concurrency}, {dataset_label(count)} images (req/s)",
                    f"{operation}|{concurrency}|{count}|rps",
                    bare,
                    want,
                )
    hashed = results.median("limit hashed_copy_mb_s", "machine")
    add("upload 1 GiB (MB/s)", "upload 1 GiB", hashed, 0.9)
    add(
        "download 1 GiB (MB/s)",
        "download 1 GiB",
        results.median("limit sendfile_mb_s", "machine"),
        0.9,
    )
    for key, figure, limit, digits in (
        ("startup seconds", "start-up to first answer (s)", 1.0, 2),
        ("startup worker rss", "RSS per worker at rest (MiB)", float(TARGET_RSS_MIB), 0),
    ):
        if key in results.values:
            values = [results.median(key, name) for name in names]
            rows.append(
                CeilingRow(
                    figure,
                    [fmt(v, digits) for v in values],
                    f"<{fmt(limit, digits)}",
                    "",
                    "",
                    verdict(None if math.isnan(values[0]) else values[0] < limit, "under"),
                )
            )
    return rows


CEILINGS_HEADING = "## Ceilings"
STARTUP_HEADING = "## Start-up"
STARTUP_PROFILE_HEADING = "## Profile of the start-up"
"""Written by hand from ``bench/startup_profile.py``; kept as it is."""


def startup_section(results: Results, plan: Plan, info: dict[str, str], command: str) -> str:
    """Start-up to the first answer and the workers' memory, beside ``--baseline``."""
    names = ["spyglass", *(["before"] if plan.baseline else [])]
    header = ["figure", "Spyglass", *(["before"] if plan.baseline else []), "target"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 2) + "|---|"]
    for key, figure, limit, digits in (
        ("startup seconds", "start-up to first answer (s)", 1.0, 2),
        ("startup worker rss", "RSS per worker at rest (MiB)", float(TARGET_RSS_MIB), 0),
    ):
        values = [results.median(key, name) for name in names]
        spread = [results.spread(key, name) for name in names]
        cells = [
            f"{fmt(v, digits)} ({fmt(low, digits)}-{fmt(high, digits)})"
            for v, (low, high) in zip(values, spread, strict=True)
        ]
        ok = None if math.isnan(values[0]) else values[0] < limit
        lines.append(
            "| " + " | ".join([figure, *cells, verdict(ok, f"<{fmt(limit, digits)}")]) + " |"
        )
    loads = [v for name in names for v in results.values.get("startup load", {}).get(name, [])]
    load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else "?"
    baseline = (
        f' "before" is revision {plan.baseline_revision}, started in turn with the current'
        " code (alternating which goes first)."
        if plan.baseline
        else ""
    )
    return f"""{STARTUP_HEADING}

Command: `{command}`; {info["date"]}, Spyglass revision {info["revision"]}, load average
{load} during the starts on 2 cores shared with other work (compare only within this
table).{baseline} Each figure is the median of {plan.rounds} round(s) of 3 starts (the
lowest and highest in brackets): `spyglass api --workers {WORKERS}` on an existing SQLite
database, from the process start to its first `200` for `GET /versions`
(`bench/suite/ceilings.py` `start_up`, polling every 10 ms); RSS is the largest worker's
after 20 answers.

{chr(10).join(lines)}
"""


def ceilings_section(
    results: Results, plan: Plan, info: dict[str, str], command: str, notes: str = ""
) -> str:
    """Spyglass's figures as shares of what the framework and the machine allow."""
    rows = ceiling_rows(results, plan)
    before = ["before"] if plan.baseline else []
    header = ["figure", "Spyglass", *before, "upstream", "ceiling", "share of ceiling",
              "vs upstream", "target"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 2) + "|---|"]
    lines += [
        "| "
        + " | ".join([r.figure, *r.cells, r.ceiling, r.share, r.versus_upstream, r.target])
        + " |"
        for r in rows
    ]
    baseline = (
        f' "before" is revision {plan.baseline_revision} in the same run, in turn with the'
        " current code."
        if plan.baseline
        else ""
    )
    return f"""{CEILINGS_HEADING}

Command: `{command}`; {info["date"]}, Spyglass revision {info["revision"]}, load average
before/after {info["load"]} on 2 cores shared with other work (compare only within this
table); medians of {plan.rounds} round(s) of {plan.duration:g} s, servers in turn.{baseline}
Ceilings, measured in the same run: metadata against a bare Starlette route on the same
server settings (uvicorn, {WORKERS} workers with their own `SO_REUSEPORT` sockets,
httptools, uvloop) answering the bytes of Spyglass's own `GET /v2/images/{{id}}`, under the
same load right after each Spyglass show (`bench/bare_route.py`); upload against a minimal
socket-to-file copy hashing MD5 and SHA-512 on two threads; download against a
file-to-socket `sendfile` (`bench/suite/ceilings.py`). Start-up is `spyglass api --workers
{WORKERS}` started to its first `200` (median of 3, existing database); RSS is the largest
worker after its first answers.

{chr(10).join(lines)}
{notes}"""


def limit_rows(results: Results) -> list[tuple[str, str]]:
    names = {
        "hash_mb_s": "md5 + sha512 over the same bytes, one core",
        "md5_mb_s": "md5 alone",
        "sha512_mb_s": "sha512 alone",
        "copy_mb_s": "plain file copy (read + write, 1 MiB pieces, page cache)",
        "loopback_mb_s": "TCP over loopback (1 MiB send/recv)",
        "send_mb_s": "file to socket: reads and sends over loopback, page cache (best of "
        "1 and 4 MiB pieces)",
        "sendfile_mb_s": "file to socket with sendfile (zero-copy), over loopback",
        "hashed_copy_mb_s": "socket to file, MD5 and SHA-512 on two threads, over loopback",
    }
    return [
        (label, f"{fmt(results.median(f'limit {name}', 'machine'))} MB/s")
        for name, label in names.items()
        if f"limit {name}" in results.values
    ]


def text_table(rows: list[Row]) -> str:
    header = Row("figure", "Spyglass", "upstream", "ratio", "target")
    table = [header, *rows]
    widths = [
        max(len(getattr(r, f)) for r in table) for f in ("figure", "spyglass", "upstream", "ratio")
    ]
    lines = []
    for r in table:
        cells = [r.figure, r.spyglass, r.upstream, r.ratio]
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + ("  " + r.target if r.target else "")
        )
        if r is header:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| figure | Spyglass | upstream | ratio | target |", "|---|---:|---:|---:|---|"]
    lines += [
        f"| {r.figure} | {r.spyglass} | {r.upstream} | {r.ratio} | {r.target} |" for r in rows
    ]
    return "\n".join(lines)


# --- the document ---------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024**2:.0f} GiB"
    revision = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": f"{os.cpu_count()} cores ({cpu})",
        "memory": memory,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "revision": revision or "unknown",
    }


def kept_sections(path: Path, headings: tuple[str, ...]) -> str:
    """Sections of the existing document to carry over verbatim."""
    if not path.exists():
        return ""
    kept, keeping = [], False
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            keeping = line.startswith(headings)
        if keeping:
            kept.append(line)
    return "\n".join(kept).strip() + "\n" if kept else ""


CACHE_HEADING = "## Image cache"


def cache_section(results: Results, plan: Plan, info: dict[str, str], command: str) -> str:
    """The image cache's figures, the way they were taken, and what the machine allows."""
    rows = cache_rows(results, plan)
    if not rows:
        return ""
    limits = "\n".join(
        f"| {label} | {value} |"
        for label, value in limit_rows(results)
        if label.startswith("file to socket")
    )
    notes = [n for n in results.notes if "cache" in n or "uncached" in n]
    return f"""{CACHE_HEADING}

Command: `{command}`; {info["date"]}, Spyglass revision {info["revision"]}, load average
before/after {info["load"]}; median of {plan.rounds} round(s), the two servers in turn.
Spyglass: `--workers {WORKERS}`,
`image_cache_dir` set, `[paste_deploy] flavor = cachemanagement`, the sqlite cache driver;
upstream: Glance 33.0.0 with the same flavor and its default cache driver. A miss is the first
download of a freshly uploaded {size_label(plan.cache_size)} image (it fills the cache), a
hit the next one once `GET /v2/cache` lists it; "no cache" is the same download from a
Spyglass without a cache. Then {plan.cache_parallel} clients download one cached
{size_label(plan.cache_parallel_size)} image at once (MB/s = all bytes / wall time). The
client discards the bytes; it shares the two cores with the servers.

{markdown_table(rows)}

| work | rate |
|---|---:|
{limits}

Hits are sent from the cache file by `sendfile` (the zero-copy send `spyglass api`'s server
offers; see "Downloads: zero-copy sends"), so the sendfile line is their ceiling. On a miss
the first client reads the store and the fill takes a copy of each chunk (reading the rest
from the store itself once the cache disk falls behind); other clients of the same image read
the growing cache file. MD5 and `os_hash_value` are computed after the last byte, before
the file becomes a hit.
{"".join(f"{chr(10)}- {n}" for n in notes)}
"""


def update_section(path: Path, heading: str, section: str) -> None:
    """Replace (or append) one ``## `` section of an existing document."""
    lines = path.read_text().splitlines() if path.exists() else []
    out, skipping, placed = [], False, False
    for line in lines:
        if line.startswith("## "):
            if line.startswith(heading):
                skipping, placed = True, True
                out.extend([*section.rstrip().splitlines(), ""])
                continue
            skipping = False
        if not skipping:
            out.append(line)
    if not placed:
        out.extend(["", *section.rstrip().splitlines()])
    path.write_text("\n".join(out).rstrip() + "\n")


def write_document(
    path: Path, rows: list[Row], results: Results, plan: Plan, info: dict[str, str], command: str
) -> None:
    kept = kept_sections(
        path,
        (
            "## Memory stays flat",
            "## Where the time goes",
            "## Notifications",
            CEILINGS_HEADING,
            STARTUP_HEADING,
            STARTUP_PROFILE_HEADING,
        ),
    )
    limits = "\n".join(f"| {label} | {value} |" for label, value in limit_rows(results))
    notes = "\n".join(f"- {note}" for note in results.notes) or "- none"
    sizes = ", ".join(size_label(s) for s in plan.sizes)
    text = f"""# Performance

Figures are from one machine and one run; compare only figures taken in the same run. The
machine is shared (other jobs ran at the same time) and noisy: spreads of 1.5x between runs
are normal, which is why every figure is the median of {plan.rounds} round(s), with the two
servers measured in turn (alternating which goes first) for every workload.

## How it was measured

Command: `{command}` (all of it: `python bench/run.py`; a few minutes: `--quick`).

- Machine: {info["cpu"]}, {info["memory"]}, Linux {info["kernel"]}, Python {info["python"]}.
  Date: {info["date"]}. Spyglass revision {info["revision"]}. Load average before/after:
  {info["load"]}.
- Spyglass: `spyglass api --workers {WORKERS}` (uvicorn, httptools, uvloop), SQLite (WAL,
  `synchronous=NORMAL`, its own setting) and the filesystem store.
- Upstream: Glance 33.0.0 from PyPI in its own venv (`bench/upstream/glance.sh`), uWSGI
  with {WORKERS} processes and one thread each, the workers speaking HTTP themselves
  (`http-socket`, as upstream's `httpd/glance-api-uwsgi.ini`; `UPSTREAM_HTTP=socket`),
  unauthenticated, SQLite switched to WAL once after `db_sync` (oslo.db leaves
  `synchronous` at FULL), multi-store configuration with one `file` backend
  (`enabled_backends = fs:file`; single- or multi-store makes no difference to these paths),
  `Connection: close` on every answer as upstream ships it. In a spot check, uWSGI's HTTP
  router in front instead (devstack's layout, `--upstream-http router`) made upstream's
  downloads 3-5x slower and halved its req/s at concurrency 32, so the comparison is
  against the faster layout.
- The client is the suite itself on the same two cores: a closed loop of raw asyncio
  HTTP/1.1 connections (keep-alive attempted with both servers; upstream closes every
  connection, so its figures include a TCP connect per request), and blocking sockets moving
  1 MiB buffers with `Content-Length` for the transfers (its CPU share is in the notes).
- Transfers: {sizes}, then {plan.parallel} concurrent uploads of {size_label(plan.parallel_size)}
  each followed by {plan.parallel} concurrent downloads (MB/s = all bytes / wall time). Every
  upload's checksum is checked. RSS is sampled every 50 ms over all the server's processes
  (the uvicorn supervisor and workers; the uWSGI master and workers).
- Metadata: {plan.duration:g} s per figure at concurrency 1 and 32, after a 0.3 s warm-up,
  with {" and ".join(f"{c:,}" for c in plan.datasets)} active images present (seeded by
  direct SQL inserts, identical on both: two properties, one tag and one location each).
  show = `GET /v2/images/{{id}}`; list first page = `GET /v2/images` (25 images); filtered =
  `?disk_format=qcow2&os_distro=fedora` (10% match); sorted = `?sort=name:asc`; deep
  marker = the page after the 100th-oldest image; update = JSON-patch `add` of a property on
  one of 1,000 images in turn; create = `POST` with two formats, a tag and a property;
  delete = the images the create run made (those it does not reach in time, and any it
  failed to delete, are soft-deleted in SQL afterwards, so each data set keeps its size).
  Cells are req/s of successful answers, then their p50 and p99 latency; errors are
  counted apart.

## Results

{markdown_table(rows)}

Targets are benchmarks, not tests. Latency targets are read at concurrency 1 (at 32 the
latency is mostly queueing behind {WORKERS} workers).

## What the machine allows

| work | rate |
|---|---:|
{limits}

Notes from the run:

{notes}

{cache_section(results, plan, info, command)}
{kept}"""
    path.write_text(text.rstrip() + "\n")


# --- main -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (a few minutes)")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 3, quick 1)")
    parser.add_argument("--duration", type=float, help="seconds per metadata figure")
    parser.add_argument(
        "--only", action="append", choices=PHASES, help="run only this part (repeatable)"
    )
    parser.add_argument("--no-upstream", action="store_true", help="measure Spyglass alone")
    parser.add_argument(
        "--upstream-http",
        choices=("socket", "router"),
        default="socket",
        help="uWSGI front for upstream: workers on http-socket (default) or the HTTP router",
    )
    parser.add_argument("--datasets", help="comma-separated image counts (default 1000,100000)")
    parser.add_argument("--output", type=Path, help="where to write the Markdown report")
    parser.add_argument(
        "--cache-section",
        action="store_true",
        help="with --only cache: rewrite only the image cache section of docs/performance.md",
    )
    parser.add_argument(
        "--ceilings-section",
        action="store_true",
        help="rewrite only the ceilings section of docs/performance.md",
    )
    parser.add_argument(
        "--startup-section",
        action="store_true",
        help="with --only startup: rewrite only the start-up section of docs/performance.md",
    )
    parser.add_argument(
        "--baseline", metavar="REV", help="also run this revision of Spyglass, as 'before'"
    )
    parser.add_argument("--operations", help="comma-separated metadata operations (default all)")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    quick = bool(args.quick)
    datasets = [int(c) for c in (args.datasets or "1000,100000").split(",")]
    return Plan(
        rounds=args.rounds or (1 if quick else 3),
        duration=args.duration or (1.0 if quick else 3.0),
        sizes=[256 * MIB] if quick else [1024 * MIB, 256 * MIB],
        parallel=8,
        parallel_size=(32 if quick else 256) * MIB,
        datasets=sorted(datasets),
        limits_size=(256 if quick else 1024) * MIB,
        phases=list(args.only or PHASES),
        upstream=not args.no_upstream,
        cache_size=(128 if quick else 1024) * MIB,
        cache_parallel=8 if quick else 32,
        cache_parallel_size=(32 if quick else 256) * MIB,
        operations=tuple(args.operations.split(",")) if args.operations else workloads.OPERATIONS,
    )


@contextlib.contextmanager
def running(servers: list[Server], first_dataset: int) -> Iterator[None]:
    try:
        for server in servers:
            server.start(fresh=True)
            server.stop()
            seed.seed(server.db_path, 0, first_dataset, server.store_dir, server.store_id)
            server.start()
            workloads.warm_up(server)
            log(f"{server.name} listening on {server.url} (pid {server.pid()})")
        yield
    finally:
        for server in servers:
            server.stop()


def export_revision(revision: str, work: Path) -> Path:
    """``src`` of another revision, exported under ``work`` (no checkout, no worktree)."""
    target = work / f"baseline-{revision}"
    subprocess.run(["rm", "-rf", str(target)], check=True)
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "src"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target / "src"


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the ``finally`` that stops the servers


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    plan = make_plan(args)
    work = REPO / ".bench" / "suite"
    work.mkdir(parents=True, exist_ok=True)
    command = "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    info = machine()
    info["revision"] += f" (source digest {source_digest()})"
    info["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()
    started = time.perf_counter()

    spyglass = Spyglass(work)
    servers: list[Server] = [spyglass]
    if args.baseline:
        plan.baseline = export_revision(args.baseline, work)
        plan.baseline_revision = args.baseline
        servers.append(Spyglass(work, name="before", source=plan.baseline))
    if plan.upstream:
        Upstream.install()
        servers.append(Upstream(work, http=args.upstream_http))
    results = Results()
    if "limits" in plan.phases:
        run_limits(plan, results, work)
    if "ceilings" in plan.phases:
        run_ceilings(plan, results, work)
    if "startup" in plan.phases:
        run_startup(plan, results, work)
    if {"transfer", "metadata"} & set(plan.phases):
        with running(servers, plan.datasets[0]), contextlib.ExitStack() as stack:
            if "transfer" in plan.phases:
                run_transfers(plan, results, servers)
            if "metadata" in plan.phases:
                bare = None
                if "ceilings" in plan.phases:
                    show = f"/v2/images/{seed.image_id(workloads.SHOW_TARGET)}"
                    bare = ceilings.BareStarlette(work, ceilings.show_body(spyglass, show))
                    bare.start()
                    stack.callback(bare.stop)
                run_metadata(plan, results, servers, bare)
    if "cache" in plan.phases:
        run_cache(plan, results, work)

    if len(spyglass.sources) > 1:
        results.notes.append(
            f"Spyglass's source changed during the run ({len(spyglass.sources)} versions "
            "started): figures mix code versions; run again"
        )
    for server in servers:
        if isinstance(server, Upstream) and server.locked_errors:
            results.notes.append(
                f"upstream logged {server.locked_errors} 'database is locked' errors "
                "(SQLite, concurrent writes from its 2 processes); they answer 500"
            )
    shares = [
        share
        for key, per_server in results.values.items()
        if key.endswith("|client")
        for values in per_server.values()
        for share in values
    ]
    if shares:
        results.notes.append(
            f"the load generator used at most {max(shares) * 100:.0f}% of one core "
            f"(median {statistics.median(shares) * 100:.0f}%) during the metadata runs"
        )
    load_after = os.getloadavg()
    info["load"] = f"{load_before[0]:.1f} / {load_after[0]:.1f}"
    rows = build_rows(results, plan)
    print()
    print(text_table(rows))
    print()
    for label, value in limit_rows(results):
        print(f"limit: {label}: {value}")
    for note in results.notes:
        print(f"note: {note}")
    full = set(plan.phases) == set(PHASES) and plan.upstream and not args.quick
    if args.ceilings_section:
        output = args.output or REPO / "docs" / "performance.md"
        section = ceilings_section(results, plan, info, command.strip())
        update_section(output, CEILINGS_HEADING, section)
        log(f"updated {CEILINGS_HEADING[3:]} in {output}")
        return
    if args.startup_section:
        output = args.output or REPO / "docs" / "performance.md"
        section = startup_section(results, plan, info, command.strip())
        update_section(output, STARTUP_HEADING, section)
        log(f"updated {STARTUP_HEADING[3:]} in {output}")
        return
    if args.cache_section:
        output = args.output or REPO / "docs" / "performance.md"
        update_section(output, CACHE_HEADING, cache_section(results, plan, info, command.strip()))
        log(f"updated {CACHE_HEADING[3:]} in {output}")
        return
    output = args.output or (REPO / "docs" / "performance.md" if full else work / "performance.md")
    write_document(output, rows, results, plan, info, command.strip())
    log(f"wrote {output} after {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
