"""The SQL image repository on SQLite, PostgreSQL and MySQL: compare-and-swap,
soft delete, children."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from spyglass.db.engine import create_database
from spyglass.db.images import SqlImageRepository
from spyglass.db.migrate import sync_schema
from spyglass.domain.image import Image, ImageStatus, Location
from spyglass.errors import ConcurrentUpdate, Conflict, Duplicate, ImageNotFound
from tests.databases import BACKENDS, drop_database, fresh_database

NOW = datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture(params=BACKENDS)
async def repo(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlImageRepository]:
    url, name = await fresh_database(request.param, tmp_path)
    database = create_database(url)
    try:
        await sync_schema(database)
        yield SqlImageRepository(database)
    finally:
        await database.dispose()
        await drop_database(request.param, name)


def _image(image_id: str = "11111111-1111-4111-8111-111111111111") -> Image:
    return Image(
        id=image_id, created_at=NOW, updated_at=NOW, name="n", disk_format="raw",
        container_format="bare", tags={"a", "b"}, properties={"k": "v"},
    )  # fmt: skip


async def test_round_trip(repo: SqlImageRepository) -> None:
    await repo.add(_image())
    loaded = await repo.get(_image().id)
    assert loaded.name == "n"
    assert loaded.tags == {"a", "b"}
    assert loaded.properties == {"k": "v"}
    assert loaded.status is ImageStatus.QUEUED


async def test_duplicate_id_even_after_delete(repo: SqlImageRepository) -> None:
    image = await repo.add(_image())
    with pytest.raises(Duplicate):
        await repo.add(_image())
    await repo.remove(image)
    with pytest.raises(ImageNotFound):
        await repo.get(image.id)
    with pytest.raises(Duplicate):
        await repo.add(_image())


async def test_save_compares_and_swaps_status(repo: SqlImageRepository) -> None:
    image = await repo.add(_image())
    first = image.copy()
    first.status = ImageStatus.SAVING
    second = image.copy()
    second.status = ImageStatus.SAVING
    results = await asyncio.gather(
        repo.save(first, expect_status=ImageStatus.QUEUED),
        repo.save(second, expect_status=ImageStatus.QUEUED),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Image"]
    assert (await repo.get(image.id)).status is ImageStatus.SAVING
    with pytest.raises(Conflict):
        await repo.save(first, expect_status=ImageStatus.QUEUED)


async def test_save_of_a_deleted_image_is_not_found(repo: SqlImageRepository) -> None:
    image = await repo.add(_image())
    await repo.remove(image.copy())
    with pytest.raises(ImageNotFound):
        await repo.save(image, expect_status=ImageStatus.QUEUED)


async def test_children_are_synchronised(repo: SqlImageRepository) -> None:
    image = await repo.add(_image())
    image.properties = {"k": "changed", "new": "x"}
    image.tags = {"b", "c"}
    image.locations = [Location("file:///x/1", {"store": "file"})]
    await repo.save(image)
    loaded = await repo.get(image.id)
    assert loaded.properties == {"k": "changed", "new": "x"}
    assert loaded.tags == {"b", "c"}
    assert loaded.locations == [Location("file:///x/1", {"store": "file"})]
    loaded.properties = {}
    loaded.locations = []
    await repo.save(loaded)
    loaded.properties = {"k": "back"}
    await repo.save(loaded)
    again = await repo.get(image.id)
    assert again.properties == {"k": "back"}
    assert again.locations == []


async def test_save_with_expect_refuses_a_changed_image(repo: SqlImageRepository) -> None:
    await repo.add(_image())
    read = await repo.get(_image().id)
    first, second = read.copy(), read.copy()
    first.tags = first.tags | {"first"}
    second.tags = second.tags | {"second"}
    await repo.save(first, expect=read)
    with pytest.raises(ConcurrentUpdate):
        await repo.save(second, expect=read)
    assert (await repo.get(read.id)).tags == {"a", "b", "first"}


async def test_save_data_leaves_metadata_alone(repo: SqlImageRepository) -> None:
    await repo.add(_image())
    uploading = await repo.get(_image().id)
    uploading.status = ImageStatus.SAVING
    await repo.save_data(uploading, expect_status=ImageStatus.QUEUED)
    renamed = await repo.get(uploading.id)
    renamed.name, renamed.properties = "renamed", {"k": "v", "during": "upload"}
    await repo.save(renamed, expect=await repo.get(uploading.id))
    uploading.status, uploading.size = ImageStatus.ACTIVE, 3
    uploading.locations = [Location("file:///x/1", {})]
    await repo.save_data(uploading, expect_status=ImageStatus.SAVING)
    stored = await repo.get(uploading.id)
    assert (stored.status, stored.size, stored.name) == (ImageStatus.ACTIVE, 3, "renamed")
    assert stored.properties == {"k": "v", "during": "upload"}
    assert stored.locations == [Location("file:///x/1", {})]


async def test_reservations_share_the_quota(repo: SqlImageRepository) -> None:
    ids = [f"{n}1111111-1111-4111-8111-111111111111" for n in range(3)]
    for image_id in ids:
        image = _image(image_id)
        image.owner, image.status = "p", ImageStatus.SAVING
        await repo.add(image)
    granted = await asyncio.gather(*(repo.reserve(i, "p", want=8, quota=10) for i in ids))
    assert sorted(granted) == [0, 2, 8]
    with pytest.raises(Conflict):  # only an image receiving data holds a reservation
        await repo.reserve(ids[0], "other", want=8, quota=10)
