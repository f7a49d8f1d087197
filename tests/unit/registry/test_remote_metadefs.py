"""The metadefs repository tests, run through the registry (children travel tagged)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from spyglass.services.metadef_ports import MetadefRepository
from tests.unit.db.test_metadefs_repository import *  # noqa: F403 - the same tests, another repo
from tests.unit.registry.inprocess import remote


# the functional suite covers the other databases
@pytest.fixture(params=["sqlite"])  # type: ignore[no-redef]
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetadefRepository]:
    async with remote(request.param, tmp_path) as repositories:
        yield repositories.metadefs
