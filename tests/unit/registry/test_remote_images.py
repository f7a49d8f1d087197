"""The image repository tests, run through the registry: same compare-and-swap, same errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from spyglass.services.ports import ImageRepository
from tests.unit.db.test_images_repository import *  # noqa: F403 - the same tests, another repo
from tests.unit.registry.inprocess import remote


# the functional suite covers the other databases
@pytest.fixture(params=["sqlite"])  # type: ignore[no-redef]
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ImageRepository]:
    async with remote(request.param, tmp_path) as repositories:
        yield repositories.images
