"""The task repository and its queue on SQLite, PostgreSQL and MySQL: concurrent
claims never hand one task to two workers, leases that run out make a task
claimable again, node-bound tasks stay on their node, and the image change
that starts or ends an import commits with the task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from spyglass.db.engine import create_database
from spyglass.db.migrate import sync_schema
from spyglass.db.models import NotificationRow
from spyglass.db.outbox import Outbox
from spyglass.db.tasks import SqlTaskRepository
from spyglass.domain.image import Image, ImageStatus
from spyglass.domain.tasks import TaskStatus, move, new_task
from spyglass.errors import BadRequest, ConcurrentUpdate, NotFound
from spyglass.registry.repositories import Repositories, sql_repositories
from spyglass.services.ports import ImageRepository
from spyglass.services.tasks_ports import TaskQuery, TaskRepository
from spyglass.timeutils import utcnow
from tests.databases import BACKENDS, drop_database, fresh_database


@pytest.fixture(params=BACKENDS)
async def repos(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repositories]:
    """The task and image repositories of a fresh database (``test_remote_tasks`` runs these
    tests through a registry)."""
    url, name = await fresh_database(request.param, tmp_path)
    database = create_database(url)
    try:
        await sync_schema(database)
        yield sql_repositories(database, None)
    finally:
        await database.dispose()
        await drop_database(request.param, name)


@pytest.fixture
def repo(repos: Repositories) -> TaskRepository:
    return repos.tasks


async def _image(images: ImageRepository) -> Image:
    now = utcnow()
    image = Image(
        id="22222222-2222-4222-8222-222222222222", created_at=now, updated_at=now,
        disk_format="raw", container_format="bare", status=ImageStatus.UPLOADING,
    )  # fmt: skip
    await images.add(image)
    return await images.get(image.id)  # as stored (MySQL keeps whole seconds)


async def test_round_trip_and_listing(repo: TaskRepository) -> None:
    first = new_task("import", owner="p1", now=utcnow(), input={"a": [1, 2]})
    second = new_task("import", owner="p2", now=utcnow() + timedelta(seconds=1), input={})
    await repo.add(first, run=False)
    await repo.add(second, run=False)
    loaded = await repo.get(first.id)
    assert (loaded.input, loaded.status, loaded.result) == ({"a": [1, 2]}, TaskStatus.PENDING, None)
    everyone = await repo.list(TaskQuery(owner=None, limit=10))
    assert [t.id for t in everyone] == [second.id, first.id]
    mine = await repo.list(TaskQuery(owner="p1", limit=10))
    assert [t.id for t in mine] == [first.id]
    after = await repo.list(TaskQuery(owner=None, limit=10, marker=second.id))
    assert [t.id for t in after] == [first.id]
    with pytest.raises(BadRequest):
        await repo.list(
            TaskQuery(owner=None, limit=10, marker="33333333-3333-4333-8333-333333333333")
        )
    with pytest.raises(NotFound):
        await repo.get("x" * 40)


async def test_concurrent_claims_never_share_a_task(repo: TaskRepository) -> None:
    tasks = [new_task("import", owner="p", now=utcnow(), input={}) for _ in range(6)]
    for task in tasks:
        await repo.add(task, run=True)

    async def worker(name: str) -> list[str]:
        got = []
        while (claim := await repo.claim(name, lease=60, node=None)) is not None:
            got.append(claim.task.id)
        return got

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(3)))
    claimed = [task_id for got in results for task_id in got]
    assert sorted(claimed) == sorted(t.id for t in tasks)


async def test_a_lease_that_runs_out_lets_another_worker_claim(repo: TaskRepository) -> None:
    task = new_task("import", owner="p", now=utcnow(), input={})
    await repo.add(task, run=True)
    first = await repo.claim("a", lease=1.5, node=None)
    assert first is not None and first.attempts == 0
    assert await repo.claim("b", lease=60, node=None) is None
    await repo.note(task.id, "a", "disk on fire")
    await asyncio.sleep(2.6)  # MySQL's DATETIME keeps whole seconds
    second = await repo.claim("b", lease=60, node=None)
    assert second is not None
    assert (second.attempts, second.last_error) == (1, "disk on fire")
    assert not await repo.renew(task.id, "a", lease=60)  # a lost it
    assert await repo.renew(task.id, "b", lease=60)
    done = move(second.task, TaskStatus.FAILURE, utcnow(), 48)
    await repo.finish(done)
    assert (await repo.get(task.id)).expires_at is not None
    assert await repo.claim("c", lease=60, node=None) is None


async def test_node_bound_tasks_stay_on_their_node(repos: Repositories) -> None:
    repo, images = repos.tasks, repos.images
    image = await _image(images)
    task = new_task("api_image_import", owner="p", now=utcnow(), input={}, image_id=image.id)
    importing = image.copy()
    importing.status = ImageStatus.IMPORTING
    importing.properties["os_glance_import_task"] = task.id
    await repo.begin(task, importing, expect=image, node="http://node-a")
    assert await repo.claim("w", lease=60, node="http://node-b") is None
    assert await repo.claim("w", lease=60, node=None) is None
    claim = await repo.claim("w", lease=60, node="http://node-a")
    assert claim is not None and claim.task.id == task.id
    assert (await images.get(image.id)).status is ImageStatus.IMPORTING


async def test_begin_refuses_an_image_that_changed(repos: Repositories) -> None:
    repo, images = repos.tasks, repos.images
    image = await _image(images)
    changed = image.copy()
    changed.name = "meanwhile"
    await images.save(changed, expect=image)
    task = new_task("api_image_import", owner="p", now=utcnow(), input={}, image_id=image.id)
    importing = image.copy()
    importing.status = ImageStatus.IMPORTING
    with pytest.raises(ConcurrentUpdate):
        await repo.begin(task, importing, expect=image)
    with pytest.raises(NotFound):
        await repo.get(task.id)  # nothing of it was written
    assert await repo.claim("w", lease=60, node=None) is None


async def test_task_events_go_to_the_outbox(tmp_path: Path) -> None:
    database = create_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await sync_schema(database)
        repo = SqlTaskRepository(database, Outbox(database, publisher_id="image.test"))
        task = new_task("import", owner="p", now=utcnow(), input={"secret": "s3cr3t"})
        await repo.add(task, run=True)
        claim = await repo.claim("w", lease=60, node=None)
        assert claim is not None
        running = await repo.save(move(task, TaskStatus.PROCESSING, utcnow(), 48))
        await repo.finish(move(running, TaskStatus.SUCCESS, utcnow(), 48))

        def recorded(session: Session) -> list[tuple[str, str]]:
            rows = session.execute(select(NotificationRow).order_by(NotificationRow.id))
            return [(r.event_type, r.payload) for r in rows.scalars()]

        events = await database.run(recorded)
    finally:
        await database.dispose()
    assert [name for name, _ in events] == ["task.create", "task.processing", "task.success"]
    assert all("s3cr3t" not in payload for _, payload in events)  # input never notified
