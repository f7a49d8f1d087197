"""The task repository tests, run through the registry: the same claims, leases, node-bound
queue and compare-and-swap on the image that starts an import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from spyglass.registry.repositories import Repositories
from tests.unit.db.test_tasks_repository import *  # noqa: F403 - the same tests, another repo
from tests.unit.registry.inprocess import remote


# the functional suite covers the other databases through a registry
@pytest.fixture(params=["sqlite", "postgresql"])  # type: ignore[no-redef]
async def repos(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repositories]:
    async with remote(request.param, tmp_path) as repositories:
        yield repositories
