"""`make test` runs on every core; tests sharing a service one of them stops share a worker.

Grouping rests on pytest-xdist's ``--dist loadgroup`` honouring an ``xdist_group`` mark added
at collection (pytest 9.2 stopped reading the node id xdist rewrites, which silently spread
each group over every worker), and on ``tests/conftest.py`` marking by fixture.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import conftest

GROUPED = """
import os, pytest
@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    with open("workers.txt", "a") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def test_loadgroup_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
         "--dist", "loadgroup", "-W", "ignore::DeprecationWarning"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    workers = (tmp_path / "workers.txt").read_text().split()
    assert len(workers) == 6
    assert len(set(workers)) == 1, f"one group ran on {sorted(set(workers))}"


class FakeItem:
    def __init__(self, *fixtures: str) -> None:
        self.fixturenames = fixtures
        self.marks: list[Any] = []

    def add_marker(self, mark: Any) -> None:
        self.marks.append(mark)

    def group(self) -> str | None:
        return self.marks[0].args[0] if self.marks else None


def test_tests_are_grouped_by_the_stopped_services_they_use() -> None:
    plain = FakeItem("tmp_path")
    rbd = FakeItem("ceph", "tmp_path")
    pool = FakeItem("foreign_pool")
    broker = FakeItem("private_broker")
    both = FakeItem("keystone", "ceph")
    keystone = FakeItem("keystone_proxy")
    items: Any = [plain, rbd, pool, broker, both, keystone]
    conftest.pytest_collection_modifyitems(SimpleNamespace(), items)  # type: ignore[arg-type]
    assert plain.group() is None
    assert broker.group() == "rabbitmq-private"
    # Keystone and Ceph meet in one test: every test of either joins one group.
    assert rbd.group() == pool.group() == both.group() == keystone.group()
    assert all(len(item.marks) <= 1 for item in items)


TESTS = Path(__file__).resolve().parents[1]
FIXTURE = re.compile(r"@pytest\.fixture[^\n]*\n(?:async )?def (\w+)\(")


@pytest.mark.parametrize("name", sorted(conftest.SHARED_SERVICES))
def test_every_grouped_fixture_exists(name: str) -> None:
    """A renamed fixture would silently drop its tests out of their group."""
    defined = {m for path in TESTS.rglob("*.py") for m in FIXTURE.findall(path.read_text())}
    assert name in defined, f"no fixture named {name!r}: see tests/conftest.py SHARED_SERVICES"
