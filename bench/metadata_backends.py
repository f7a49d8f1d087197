"""Metadata req/s by database backend: Spyglass on SQLite, PostgreSQL, MariaDB and through the
registry (on PostgreSQL), beside upstream Glance 33 on PostgreSQL, in one run.

    python bench/metadata_backends.py [--rounds 3] [--duration 4] [--seed 300] [--no-write]
    python bench/metadata_backends.py --only postgresql,registry --operations show

``--only`` (words of the configurations' labels) and ``--operations`` measure a part, for
a quick before-and-after while working on one path; a partial run only prints.

Each configuration gets a fresh database (PostgreSQL and MariaDB are the machine's servers on
5432 and 3306; a database per configuration is created and dropped) and ``--seed`` images made
through its API; all run at once, then create, show and list (first page of 20) at concurrency
1 and 32 are measured ``--rounds`` times for ``--duration`` seconds, the configurations taking
turns, and the median kept. Every server runs with the same worker count (suite.servers.WORKERS);
the registry configuration is that many API workers plus a registry with as many workers.
Writes the "Database backends" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.*
sys.path.insert(0, str(Path(__file__).resolve().parent))  # suite

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from suite import ceilings
from suite.load import Request, run_load
from suite.sections import replace_section
from suite.servers import REPO, WORKERS, Server, Spyglass, Upstream, free_port
from suite.workloads import create_image

from spyglass.db.engine import async_url

POSTGRES = os.environ.get("SPYGLASS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
MYSQL = os.environ.get("SPYGLASS_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
JSON = {"Content-Type": "application/json"}
OPERATIONS = ("create", "show", "list")
CONCURRENCY = (1, 32)
TOKEN = uuid.uuid4().hex
SPYGLASS = REPO / ".venv" / "bin" / "spyglass"


async def _admin(admin: str, statement: str) -> None:
    engine = create_async_engine(async_url(admin), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@dataclass
class Database:
    admin: str
    name: str

    @property
    def url(self) -> str:
        return f"{self.admin.rsplit('/', 1)[0]}/{self.name}"

    def create(self) -> Database:
        asyncio.run(_admin(self.admin, f"CREATE DATABASE {self.name}"))
        return self

    def drop(self) -> None:
        asyncio.run(_admin(self.admin, f"DROP DATABASE IF EXISTS {self.name}"))

    def analyze(self) -> None:
        """Fresh planner statistics, as autovacuum keeps them on a server that runs it.

        The PostgreSQL here runs with ``autovacuum = off``: the thousands of images the
        create figures add were never analyzed, and both Glance and Spyglass then read
        every image's properties and tags by sequential scan (2 ms of the server's CPU
        per list page at 8,000 images, against 0.3 ms once analyzed). MariaDB's InnoDB
        recalculates its statistics by itself when a tenth of a table has changed."""
        if self.admin.startswith("postgresql"):
            asyncio.run(_admin(self.url, "ANALYZE"))


def _fresh(admin: str, label: str) -> Database:
    return Database(admin, f"bench_{label}_{uuid.uuid4().hex[:8]}").create()


def _sync(work: Path, url: str) -> None:
    config = work / "db.conf"
    config.write_text(f"[database]\nconnection = {url}\n")
    subprocess.run([str(SPYGLASS), "db", "sync", "--config-file", str(config)], check=True)


class Registry:
    """``spyglass registry`` on a free port, over one database, trusting a shared token, with
    as many workers as the API servers have."""

    def __init__(self, work: Path, url: str) -> None:
        self.work = work
        self.url = url
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        config = self.work / "glance-registry.conf"
        config.write_text(
            f"[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = {self.port}\n"
            f"registry_auth_token = {TOKEN}\nworkers = {WORKERS}\n"
            f"[database]\nconnection = {self.url}\n"
        )
        with (self.work / "registry.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(SPYGLASS), "registry", "--config-file", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        time.sleep(3)
        if self.process.poll() is not None:
            raise RuntimeError(f"the registry exited: {(self.work / 'registry.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class UpstreamOn(Upstream):
    """Upstream Glance with its database on a server (no SQLite WAL switch)."""

    def __init__(self, work: Path, url: str) -> None:
        super().__init__(work, http="socket", wal=False)
        scheme, rest = url.split("://", 1)
        self.database_url = f"postgresql+psycopg2://{rest}" if scheme == "postgresql" else url

    def _env(self, keep: bool) -> dict[str, str]:
        return {**super()._env(keep), "UPSTREAM_DB_CONNECTION": self.database_url}


@dataclass
class Figures:
    rps: float
    errors: int
    low: float = 0.0
    high: float = 0.0

    @staticmethod
    def median(runs: list[Figures]) -> Figures:
        """The middle rate of several runs of one figure, their range and all their errors."""
        rates = sorted(run.rps for run in runs)
        return Figures(
            statistics.median(rates), sum(run.errors for run in runs), rates[0], rates[-1]
        )


def _requests(server: Server, operation: str, ids: list[str]) -> Callable[[int], Request]:
    if operation == "create":

        def create(i: int) -> Request:
            body = {"name": f"b{i}", "disk_format": "raw", "container_format": "bare",
                    "tags": ["bench"], "os_distro": "cirros"}  # fmt: skip
            return "POST", "/v2/images", json.dumps(body).encode(), JSON

        return create
    if operation == "show":
        chosen = random.Random(7)
        return lambda _i: ("GET", f"/v2/images/{chosen.choice(ids)}", b"", {})
    return lambda _i: ("GET", "/v2/images?limit=20", b"", {})


BARE = "bare Starlette route"
"""The framework's ceiling (issue targets count Spyglass's c=32 figures as its share)."""
CEILING_TARGETS = {
    ("show", "Spyglass, SQLite"): 0.25,
    ("show", "Spyglass, PostgreSQL"): 0.15,
    ("list", "Spyglass, SQLite"): 0.10,
    ("create", "Spyglass, SQLite"): 0.05,
}
SHOW_BODIES: list[bytes] = []
"""A Spyglass show answer, for the bare route to answer the same bytes."""


Started = tuple[Server, Callable[[], None], "Database | None"]
"""A configuration's server, how to take it down, and its database on a server."""


@dataclass
class Configuration:
    """One server under test, the images seeded into it, and how to take it down."""

    label: str
    server: Server
    ids: list[str]
    cleanup: Callable[[], None]
    database: Database | None = None

    def requests(self, operation: str) -> Callable[[int], Request]:
        return _requests(self.server, operation, self.ids)


def _seeded(
    label: str, server: Server, cleanup: Callable[[], None], seed: int, database: Database | None
) -> Configuration:
    ids = [create_image(server, f"seed-{i}") for i in range(seed)]
    if not SHOW_BODIES and isinstance(server, Spyglass):
        SHOW_BODIES.append(ceilings.show_body(server, f"/v2/images/{ids[0]}"))
    run_load(server.host, server.port, 4, _requests(server, "show", ids), duration=1.0)  # warm
    return Configuration(label, server, ids, cleanup, database)


def _one_figure(
    configuration: Configuration, operation: str, concurrency: int, duration: float
) -> Figures:
    server = configuration.server
    expect = (201,) if operation == "create" else (200,)
    result = run_load(
        server.host, server.port, concurrency, configuration.requests(operation),
        expect=expect, duration=duration,
    )  # fmt: skip
    if result.errors:
        print(f"  ! {configuration.label} {operation} x{concurrency}: {result.errors} errors: "
              f"{result.first_error}", flush=True)  # fmt: skip
    return Figures(result.rps, result.errors)


def measure(
    configurations: list[Configuration],
    duration: float,
    rounds: int,
    operations: tuple[str, ...] = OPERATIONS,
) -> dict[str, dict[tuple[str, int], Figures]]:
    """Every figure ``rounds`` times, the configurations taking turns within each round (in
    an order that rotates), and the median kept: on a shared 2-core machine a slow spell then
    falls on every configuration of a round alike rather than on whichever ran at that time."""
    samples: dict[str, dict[tuple[str, int], list[Figures]]] = {c.label: {} for c in configurations}
    for operation in operations:
        for configuration in configurations:  # the images the creates added
            if configuration.database is not None:
                configuration.database.analyze()
        for concurrency in CONCURRENCY:
            for round_ in range(rounds):
                turn = round_ % len(configurations)
                for configuration in configurations[turn:] + configurations[:turn]:
                    figure = _one_figure(configuration, operation, concurrency, duration)
                    samples[configuration.label].setdefault((operation, concurrency), []).append(
                        figure
                    )
            line = "  ".join(
                f"{c.label.removeprefix('Spyglass').strip(', ') or c.label}: "
                + "/".join(f"{f.rps:.0f}" for f in samples[c.label][(operation, concurrency)])
                for c in configurations
            )
            print(f"  {operation:6} x{concurrency:<2} {line}", flush=True)
    return {
        label: {key: Figures.median(found) for key, found in figures.items()}
        for label, figures in samples.items()
    }


def _spyglass(work: Path, lines: list[str]) -> Spyglass:
    return Spyglass(work, ["bind_host = 127.0.0.1", *lines])


def run_all(
    work: Path,
    seed: int,
    duration: float,
    rounds: int,
    only: tuple[str, ...] = (),
    operations: tuple[str, ...] = OPERATIONS,
) -> dict[str, dict[tuple[str, int], Figures]]:
    """All configurations up at once (idle ones cost nothing measurable), each seeded, then
    measured in turns (``measure``); the bare route last, under the show load. ``only``
    keeps the configurations whose label has one of its words, and leaves the bare route
    out."""

    def sqlite() -> Started:
        server = _spyglass(work / "sqlite", [])
        server.start(fresh=True)
        return server, server.stop, None

    def on(admin: str, label: str) -> Callable[[], Started]:
        def start() -> Started:
            database = _fresh(admin, label)
            _sync(work, database.url)
            server = _spyglass(work / label, ["[database]", f"connection = {database.url}"])
            server.start(fresh=True)

            def cleanup() -> None:
                server.stop()
                database.drop()

            return server, cleanup, database

        return start

    def registry() -> Started:
        database = _fresh(POSTGRES, "registry")
        _sync(work, database.url)
        service = Registry(work / "registry-service", database.url)
        service.start()
        server = _spyglass(
            work / "registry-api",
            [
                "data_api = glance.db.registry.api",
                "registry_host = 127.0.0.1",
                f"registry_port = {service.port}",
                f"registry_auth_token = {TOKEN}",
            ],
        )
        server.start(fresh=True)

        def cleanup() -> None:
            server.stop()
            service.stop()
            database.drop()

        return server, cleanup, database

    def upstream() -> Started:
        Upstream.install()
        database = _fresh(POSTGRES, "upstream")
        server = UpstreamOn(work / "upstream-pg", database.url)
        server.start(fresh=True)

        def cleanup() -> None:
            server.stop()
            database.drop()

        return server, cleanup, database

    starts = {
        "Spyglass, SQLite": sqlite,
        "Spyglass, PostgreSQL": on(POSTGRES, "postgresql"),
        "Spyglass, MariaDB": on(MYSQL, "mariadb"),
        "Spyglass through the registry, PostgreSQL": registry,
        "upstream Glance 33, PostgreSQL": upstream,
    }
    if only:
        starts = {k: v for k, v in starts.items() if any(w in k.lower() for w in only)}
    configurations: list[Configuration] = []
    try:
        for label, start in starts.items():
            print(f"{label}: starting, {seed} images", flush=True)
            server, cleanup, database = start()
            try:
                configurations.append(_seeded(label, server, cleanup, seed, database))
            except BaseException:
                cleanup()
                raise
        results = measure(configurations, duration, rounds, operations)
    finally:
        for configuration in configurations:
            configuration.cleanup()
    if only:
        return results
    print(f"{BARE}:", flush=True)
    results[BARE] = measure_bare(work, duration, rounds)
    return results


def measure_bare(work: Path, duration: float, rounds: int) -> dict[tuple[str, int], Figures]:
    """The bare route (``bench/bare_route.py``, the same server settings) answering the
    bytes of a Spyglass show, under the same load as the show figures (median of ``rounds``)."""
    bare = ceilings.BareStarlette(work / "bare", SHOW_BODIES[0])
    bare.start()
    try:
        found: dict[tuple[str, int], Figures] = {}
        for concurrency in CONCURRENCY:
            runs = []
            for _ in range(rounds):
                result = run_load(
                    bare.host, bare.port, concurrency,
                    lambda _i: ("GET", "/v2/images/bare", b"", {}), duration=duration,
                )  # fmt: skip
                runs.append(Figures(result.rps, result.errors))
            found[("show", concurrency)] = Figures.median(runs)
            print(
                f"  bare   x{concurrency:<2} {found[('show', concurrency)].rps:8.1f} req/s",
                flush=True,
            )
        return found
    finally:
        bare.stop()


def report(
    results: dict[str, dict[tuple[str, int], Figures]], seed: int, duration: float, rounds: int
) -> str:
    results = dict(results)
    bare = results.pop(BARE, None)
    upstream = results["upstream Glance 33, PostgreSQL"]
    direct = results["Spyglass, PostgreSQL"]
    registry = results["Spyglass through the registry, PostgreSQL"]
    header = "| configuration | " + " | ".join(
        f"{op} x{c}" for op in OPERATIONS for c in CONCURRENCY
    ) + " |"  # fmt: skip
    lines = [header, "|---" * (1 + len(OPERATIONS) * len(CONCURRENCY)) + "|"]
    for label, figures in results.items():
        cells = [f"{figures[(op, c)].rps:.0f}" for op in OPERATIONS for c in CONCURRENCY]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    spread = [lines[0], lines[1]]
    for label, figures in results.items():
        cells = [f"{figures[(op, c)].low:.0f}-{figures[(op, c)].high:.0f}"
                 for op in OPERATIONS for c in CONCURRENCY]  # fmt: skip
        spread.append(f"| {label} | " + " | ".join(cells) + " |")
    ratio_lines = []
    for label, figures in results.items():
        if label.startswith("upstream"):
            continue
        ratios = [figures[k].rps / upstream[k].rps for k in upstream if upstream[k].rps]
        ratio_lines.append(f"| {label} | " + " | ".join(f"{r:.1f}x" for r in ratios) + " |")
    kept = [registry[k].rps / direct[k].rps for k in direct if direct[k].rps]
    errors = sum(f.errors for figures in results.values() for f in figures.values())
    load = os.getloadavg()
    return "\n".join(
        [
            f"`python bench/metadata_backends.py --rounds {rounds} --duration {duration:g}` "
            f"(one run; {seed} images made through each API first; every figure is the median "
            f"of {rounds} runs of {duration:g} s, the configurations taking turns within each "
            f"round; {WORKERS} workers each, {errors} errors; load average at the end "
            f"{load[0]:.1f} on 2 cores, the load generator on the same cores).",
            "",
            "Requests per second (create: POST /v2/images; show: GET one image; list: the first "
            "page of 20):",
            "",
            *lines,
            "",
            "Against upstream Glance on PostgreSQL (target: at least 3x everywhere):",
            "",
            "| configuration | "
            + " | ".join(f"{op} x{c}" for op in OPERATIONS for c in CONCURRENCY)
            + " |",
            "|---" * (1 + len(OPERATIONS) * len(CONCURRENCY)) + "|",
            *ratio_lines,
            "",
            "The registry keeps "
            + ", ".join(f"{r:.0%}" for r in kept)
            + " of direct PostgreSQL's req/s (same column order; target: at least 70%).",
            "",
            f"The lowest and highest of the {rounds} runs behind each figure (req/s):",
            "",
            *spread,
            *([] if bare is None else ["", *_ceiling_lines(results, bare)]),
        ]
    )


def _ceiling_lines(
    results: dict[str, dict[tuple[str, int], Figures]], bare: dict[tuple[str, int], Figures]
) -> list[str]:
    """Each Spyglass configuration's c=32 figures as shares of the bare route's c=32."""
    ceiling = bare[("show", 32)].rps
    lines = [
        f"Against the framework's ceiling, measured in the same run: a bare Starlette route "
        f"on the same server settings (`bench/bare_route.py`, uvicorn, {WORKERS} workers) "
        f"answering the bytes of a Spyglass show, {bare[('show', 1)].rps:,.0f} req/s at c=1 "
        f"and {ceiling:,.0f} at c=32. Shares at c=32 (targets from the hot-paths work: show "
        "25% on SQLite and 15% on PostgreSQL, list 10% and create 5% on SQLite):",
        "",
        "| configuration | create x32 | show x32 | list x32 |",
        "|---|---|---|---|",
    ]
    for label, figures in results.items():
        if label.startswith("upstream"):
            continue
        cells = []
        for operation in ("create", "show", "list"):
            share = figures[(operation, 32)].rps / ceiling if ceiling else float("nan")
            want = CEILING_TARGETS.get((operation, label))
            mark = "" if want is None else f" ({'met' if share >= want else 'missed'}, ≥{want:.0%})"
            cells.append(f"{share:.1%}{mark}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure (median kept)")
    parser.add_argument("--seed", type=int, default=300)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--only", default="", help="comma-separated label words; print only")
    parser.add_argument("--operations", default=",".join(OPERATIONS), help="of create,show,list")
    args = parser.parse_args()
    only = tuple(w.strip().lower() for w in args.only.split(",") if w.strip())
    operations = tuple(o for o in args.operations.split(",") if o in OPERATIONS)
    work = REPO / ".bench" / "metadata-backends"
    work.mkdir(parents=True, exist_ok=True)
    results = run_all(work, args.seed, args.duration, args.rounds, only, operations)
    if only or operations != OPERATIONS:
        for label, figures in results.items():
            cells = ", ".join(f"{o} x{c} {f.rps:.0f}" for (o, c), f in figures.items())
            print(f"{label}: {cells}")
        return
    body = report(results, args.seed, args.duration, args.rounds)
    print(body)
    if not args.no_write:
        replace_section(REPO / "docs" / "performance.md", "## Database backends", body)


if __name__ == "__main__":
    main()
