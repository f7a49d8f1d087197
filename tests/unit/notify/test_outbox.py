"""The outbox on SQLite, PostgreSQL and MySQL: recorded with the change, claimed once,
delivered in order per image, kept while the broker is away, pruned once confirmed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from spyglass import request_ids
from spyglass.db import outbox as sql
from spyglass.db.engine import Database, create_database
from spyglass.db.images import SqlImageRepository
from spyglass.db.members import SqlMemberRepository
from spyglass.db.migrate import sync_schema
from spyglass.db.outbox import Outbox, read_backlog
from spyglass.domain.image import Image, ImageStatus
from spyglass.domain.members import ImageMember, MemberStatus
from spyglass.errors import Conflict
from spyglass.notify.base import NotifierUnavailable
from spyglass.notify.envelope import Message, encode
from spyglass.notify.events import EventFilter, image_event
from spyglass.notify.memory import MemoryNotifier
from spyglass.notify.publisher import Publisher
from tests.databases import BACKENDS, drop_database, fresh_database

NOW = datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url, name = await fresh_database(request.param, tmp_path)
    db = create_database(url)
    try:
        await sync_schema(db)
        yield db
    finally:
        await db.dispose()
        await drop_database(request.param, name)


def _image(n: int) -> Image:
    return Image(id=f"00000000-0000-4000-8000-{n:012d}", created_at=NOW, updated_at=NOW)


def _publisher(database: Database, notifier: MemoryNotifier, **kw: float) -> Publisher:
    return Publisher(database, notifier, retry_backoff=0.01, retry_max_backoff=0.05, **kw)  # type: ignore[arg-type]


async def test_events_are_written_with_the_change_and_only_then(database: Database) -> None:
    box = Outbox(database, publisher_id="image.test")
    repo = SqlImageRepository(database, box)
    image = await repo.add(_image(1), events=("image.create",))
    with pytest.raises(Conflict):  # a refused change records nothing
        await repo.save(image, expect_status=ImageStatus.ACTIVE, events=("image.update",))
    image.name = "renamed"
    await repo.save(image, events=("image.update",))
    await repo.remove(image, events=("image.delete",))
    notifier = MemoryNotifier()
    publisher = _publisher(database, notifier)
    assert await publisher.step() == 3
    assert [m.event.event_type for m in notifier.sent] == [
        "image.create",
        "image.update",
        "image.delete",
    ]
    assert notifier.sent[1].event.payload["name"] == "renamed"  # type: ignore[index]
    assert notifier.sent[0].publisher_id == "image.test"
    assert (await read_backlog(database)).waiting == 3  # deleted with the next claim
    assert await publisher.step() == 0
    assert (await read_backlog(database)).waiting == 0


async def test_events_keep_the_id_of_the_request_that_caused_them(database: Database) -> None:
    box = Outbox(database, publisher_id="image.test")
    repo = SqlImageRepository(database, box)
    with request_ids.bound("req-7d1c"):
        image = await repo.add(_image(9), events=("image.create",))
    await repo.remove(image, events=("image.delete",))  # the scrubber's, say: no request
    notifier = MemoryNotifier()
    assert await _publisher(database, notifier).step() == 2
    assert [m.request_id for m in notifier.sent] == ["req-7d1c", None]
    sent = json.loads(json.loads(encode(notifier.sent[0]))["oslo.message"])
    assert sent["_context_request_id"] == "req-7d1c"  # what oslo.messaging listeners read


async def test_member_events_and_disabled_ones(database: Database) -> None:
    box = Outbox(database, publisher_id="p", events=EventFilter(("image.member.update",)))
    images = SqlImageRepository(database, box)
    await images.add(_image(2))
    members = SqlMemberRepository(database, box)
    member = ImageMember(_image(2).id, "p2", MemberStatus.PENDING, NOW, NOW)
    await members.add(member, events=("image.member.create",))
    member.status = MemberStatus.ACCEPTED
    await members.save(member, events=("image.member.update",))
    await members.remove(member, events=("image.member.delete",))
    notifier = MemoryNotifier()
    await _publisher(database, notifier).step()
    assert [m.event.event_type for m in notifier.sent] == [
        "image.member.create",
        "image.member.delete",
    ]


async def test_nothing_is_lost_while_the_broker_is_down(database: Database) -> None:
    box = Outbox(database, publisher_id="p")
    repo = SqlImageRepository(database, box)
    notifier = MemoryNotifier()
    notifier.down = True
    publisher = _publisher(database, notifier)
    for n in range(5):
        await repo.add(_image(n), events=("image.create",))
    assert await publisher.step() is None
    backlog = await read_backlog(database)
    assert (backlog.waiting, backlog.claimed) == (5, 0)
    notifier.down = False
    assert await publisher.step() == 5
    assert len({m.event.message_id for m in notifier.sent}) == 5


async def test_a_failed_send_is_retried_with_the_same_message_id(database: Database) -> None:
    box = Outbox(database, publisher_id="p")
    event = image_event("image.create", _image(7))
    await box.record([event])

    class Flaky(MemoryNotifier):
        fail = True

        async def send(self, messages: Sequence[Message]) -> None:
            if self.fail:
                self.fail = False
                raise NotifierUnavailable("broker went away")
            await super().send(messages)

    notifier = Flaky()
    publisher = _publisher(database, notifier)
    assert await publisher.step() is None
    assert (await read_backlog(database)).retrying == 1
    await asyncio.sleep(0.05)
    assert await publisher.step() == 1
    assert notifier.sent[0].event.message_id == event.message_id


async def test_two_publishers_deliver_each_event_once_in_order_per_image(
    database: Database,
) -> None:
    box = Outbox(database, publisher_id="p")
    repo = SqlImageRepository(database, box)
    images = [await repo.add(_image(n), events=("image.create",)) for n in range(4)]
    for round_ in range(10):
        for image in images:
            image.name = f"r{round_}"
            await repo.save(image, events=("image.update",))
    shared = MemoryNotifier()
    first, second = _publisher(database, shared, batch=7), _publisher(database, shared, batch=5)

    async def drain(publisher: Publisher) -> None:
        sent = await publisher.step()
        while sent:
            sent = await publisher.step()

    for _ in range(20):
        await asyncio.gather(drain(first), drain(second))
        if (await read_backlog(database)).waiting == 0:
            break
    ids = [m.event.message_id for m in shared.sent]
    assert len(ids) == len(set(ids)) == 44
    for image in images:
        names = [
            m.event.payload["name"]  # type: ignore[index]
            for m in shared.sent
            if m.event.key == image.id
        ]
        assert names == [None] + [f"r{n}" for n in range(10)]


async def test_claims_hold_back_later_events_of_the_same_image(database: Database) -> None:
    box = Outbox(database, publisher_id="p")
    repo = SqlImageRepository(database, box)
    image = await repo.add(_image(9), events=("image.create",))
    other = await repo.add(_image(10), events=("image.create",))
    first = await database.run(lambda s: sql.claim(s, "a", limit=1, lease=30), write=True)
    await repo.save(image, events=("image.update",))
    await repo.save(other, events=("image.update",))
    claimed = await database.run(lambda s: sql.claim(s, "b", limit=10, lease=30), write=True)
    assert [m.event.key for m in first] == [image.id]
    # b may not overtake a on `image`: it gets only the other image's events
    assert {m.event.key for m in claimed} == {other.id}
    assert len(claimed) == 2
