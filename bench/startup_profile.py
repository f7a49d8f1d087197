"""Where ``spyglass api``'s start-up goes: its steps one by one, then its imports by package.

    python bench/startup_profile.py [--tries N]

Runs, in a fresh interpreter each try, the steps ``spyglass api --workers N`` takes before a
worker answers (import the CLI, load the settings, set up logging, the start-up summary's
stores, the schema check, import the app, build one worker's app, its lifespan start-up) on
an existing SQLite database, and prints each step's CPU and wall seconds (medians), then
the import time of each top-level package (``python -X importtime``, self time summed).
Forking the workers and uvicorn's own start are not in it; ``bench/run.py --only startup``
measures the whole, from outside.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"

_STEPS = """
import json, sys, time
marks = [("interpreter", time.process_time(), time.perf_counter())]
def mark(name):
    marks.append((name, time.process_time(), time.perf_counter()))
from pathlib import Path
import spyglass.cli.main as cli
import uvicorn
mark("import the CLI and uvicorn")
from spyglass.config import load_settings
settings = load_settings([], None, {})
mark("load the settings")
from spyglass.logs import configure_logging
configure_logging(settings)
mark("set up logging")
from spyglass.api.basics import database_url
data = Path(sys.argv[1])
url = database_url(settings, data)
cli._startup_summary(settings, data, url)
mark("start-up summary (stores)")
from spyglass.cli.db import prepare_for_serving
from spyglass.db.engine import PoolOptions
prepare_for_serving(url, PoolOptions.from_settings(settings))
mark("schema check")
factory = cli._app_factory(settings, data)
mark("import the app (before the fork)")
app = factory()
mark("build a worker's app")
import asyncio
async def up():
    async with app.router.lifespan_context(app):
        mark("lifespan start-up")
asyncio.run(up())
print(json.dumps(marks))
"""


def steps(data: Path, tries: int) -> list[tuple[str, float, float]]:
    """(step, median CPU s, median wall s); the first step is the interpreter's own start
    (its CPU only: its wall time is not seen from inside)."""
    runs: list[list[tuple[str, float, float]]] = []
    for _ in range(tries):
        out = subprocess.run(
            [str(PYTHON), "-c", _STEPS, str(data)],
            capture_output=True, text=True, check=True, timeout=300,
        ).stdout  # fmt: skip
        runs.append([(str(n), float(c), float(w)) for n, c, w in json.loads(out.splitlines()[-1])])
    found = []
    for index, (name, _, _) in enumerate(runs[0]):
        cpu, wall = [], []
        for marks in runs:
            _, cpu_at, wall_at = marks[index]
            _, cpu_before, wall_before = marks[index - 1] if index else ("", 0.0, wall_at)
            cpu.append(cpu_at - cpu_before)
            wall.append(wall_at - wall_before)
        found.append((name, statistics.median(cpu), statistics.median(wall)))
    return found


def imports(data: Path) -> list[tuple[str, float]]:
    """Self import time per top-level package (``spyglass.*`` per subpackage), seconds."""
    done = subprocess.run(
        [str(PYTHON), "-X", "importtime", "-c", _STEPS, str(data)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    totals: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.split(":", 1)[1].split("|")
        parts = name.strip().split(".")
        package = ".".join(parts[:2]) if parts[0] == "spyglass" else parts[0]
        totals[package] += int(own)
    return [(name, micros / 1e6) for name, micros in totals.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tries", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        steps(data, 1)  # creates the database; not counted
        print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.tries} tries")
        print(f"{'step':40} {'CPU s':>7} {'wall s':>7}")
        found = steps(data, args.tries)
        for name, cpu, wall in found:
            print(f"{name:40} {cpu:7.3f} {wall:7.3f}")
        total_cpu = sum(cpu for _, cpu, _ in found)
        total_wall = sum(wall for _, _, wall in found)
        print(f"{'total':40} {total_cpu:7.3f} {total_wall:7.3f}")
        print("\nimport time by package (self, one try, s):")
        listed = imports(data)
        for name, seconds in listed[:20]:
            print(f"  {name:32} {seconds:6.3f}")
        print(f"  {'all':32} {sum(s for _, s in listed):6.3f}")


if __name__ == "__main__":
    main()
