"""Transfer leases on every database: held, renewed, released, and what counts as abandoned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from spyglass.db.engine import create_database
from spyglass.db.images import SqlImageRepository
from spyglass.db.leases import SqlTransferLeases
from spyglass.db.migrate import sync_schema
from spyglass.domain.image import Image, ImageStatus
from spyglass.timeutils import utcnow
from tests.databases import BACKENDS, drop_database, fresh_database

LONG_AGO = datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture(params=BACKENDS)
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SqlImageRepository, SqlTransferLeases]]:
    url, name = await fresh_database(request.param, tmp_path)
    database = create_database(url)
    try:
        await sync_schema(database)
        yield SqlImageRepository(database), SqlTransferLeases(database)
    finally:
        await database.dispose()
        await drop_database(request.param, name)


async def _saving(repo: SqlImageRepository, image_id: str) -> None:
    image = Image(id=image_id, created_at=LONG_AGO, updated_at=LONG_AGO, name=image_id)
    await repo.add(image)
    image.status = ImageStatus.SAVING
    await repo.save_data(image, expect_status=ImageStatus.QUEUED)


async def test_only_saving_images_without_a_live_lease_are_abandoned(
    stores: tuple[SqlImageRepository, SqlTransferLeases],
) -> None:
    repo, leases = stores
    ids = [f"{n}1111111-1111-4111-8111-111111111111" for n in range(4)]
    for image_id in ids[:3]:
        await _saving(repo, image_id)
    await repo.add(Image(id=ids[3], created_at=LONG_AGO, updated_at=LONG_AGO))  # queued
    await leases.hold(ids[0], "alive", seconds=60)
    await leases.hold(ids[1], "dead", seconds=-1)  # ran out
    later = utcnow() + timedelta(seconds=1)
    assert sorted(await leases.abandoned(older_than=later)) == sorted(ids[1:3])
    assert await leases.abandoned(older_than=LONG_AGO) == []  # too recently changed
    await leases.hold(ids[1], "dead", seconds=60)  # renewed in time
    assert await leases.abandoned(older_than=later) == [ids[2]]
    await leases.release(ids[0], "someone else")  # only the holder releases
    assert ids[0] not in await leases.abandoned(older_than=later)
    await leases.release(ids[0], "alive")
    assert ids[0] in await leases.abandoned(older_than=later)
