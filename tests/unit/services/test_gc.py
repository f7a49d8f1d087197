"""Orphan collection on a real filesystem store with a fake reference list."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from spyglass.errors import StoreUnavailable
from spyglass.services.gc import OrphanCollector
from spyglass.stores.base import Store, UnfinishedWrite
from spyglass.stores.filesystem import FilesystemStore
from spyglass.stores.registry import StoreSet

OLD = "00000000-0000-4000-8000-000000000001"
YOUNG = "00000000-0000-4000-8000-000000000002"
KEPT = "00000000-0000-4000-8000-000000000003"
WRITING = "00000000-0000-4000-8000-000000000004"


class References:
    def __init__(self, locations: list[str], writing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.recorded = locations
        self.busy = set(writing)
        self.reads = 0

    async def locations(self) -> list[str]:
        self.reads += 1
        return list(self.recorded)

    async def writing(self) -> set[str]:
        return self.busy


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _store(tmp_path: Path) -> FilesystemStore:
    store = FilesystemStore("fast", datadir=tmp_path / "images")
    await store.open()
    for image_id in (OLD, YOUNG, KEPT, WRITING):
        await store.add(image_id, _bytes(image_id.encode()), size=None)
    aged = time.time() - 7200
    for image_id in (OLD, KEPT, WRITING):
        os.utime(store.datadir / image_id, (aged, aged))
    (store.datadir / f".{OLD}.abc.partial").write_bytes(b"partial")  # recovery's, not gc's
    return store


async def test_only_old_unreferenced_data_not_being_written_is_removed(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    kept = f"file://{store.datadir}/./{KEPT}"  # another spelling of the same file
    references = References([kept], writing={WRITING})
    collector = OrphanCollector(
        references, StoreSet({"fast": store}, "fast"), grace=3600, clock=lambda: datetime.now(UTC)
    )

    dry = (await collector.collect(dry_run=True))[0]
    assert [o.location for o in dry.orphans] == [(store.datadir / OLD).as_uri()]
    assert dry.scanned == 4 and dry.young == 2 and dry.removed == 0
    assert (store.datadir / OLD).exists()

    report = (await collector.collect())[0]
    assert report.removed == 1 and report.removed_bytes == len(OLD)
    assert sorted(p.name for p in store.datadir.iterdir()) == sorted(
        [f".{OLD}.abc.partial", YOUNG, KEPT, WRITING]
    )
    assert references.reads == 4  # before and after each listing


async def test_a_location_recorded_during_the_listing_is_kept(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    references = References([])
    listing = store.inventory

    async def slow_listing() -> AsyncIterator[object]:
        async for stored in listing():
            references.recorded.append((store.datadir / OLD).as_uri())
            yield stored

    store.inventory = slow_listing  # type: ignore[assignment,method-assign]
    collector = OrphanCollector(
        references, StoreSet({"fast": store}, "fast"), grace=3600, clock=lambda: datetime.now(UTC)
    )
    report = (await collector.collect())[0]
    assert (store.datadir / OLD).exists()
    assert {o.location for o in report.orphans} == {
        (store.datadir / KEPT).as_uri(),
        (store.datadir / WRITING).as_uri(),
    }


class Unlisted(FilesystemStore):
    """A driver without an inventory (the base class's default)."""

    driver = "unlisted"
    inventory = Store.inventory


async def test_a_store_that_cannot_list_is_skipped_with_the_reason(tmp_path: Path) -> None:
    store = Unlisted("web", datadir=tmp_path)
    collector = OrphanCollector(
        References([]), StoreSet({"web": store}, "web"), clock=lambda: datetime.now(UTC)
    )
    report = (await collector.collect())[0]
    assert report.skipped == "the unlisted store cannot list its data"
    assert report.scanned == 0


class HalfWritten(FilesystemStore):
    """A store holding unfinished writes (as S3 holds multipart uploads), one of which
    refuses to be aborted."""

    def __init__(self, datadir: Path, writes: list[UnfinishedWrite], listing_fails: bool) -> None:
        super().__init__("half", datadir=datadir)
        self.writes = writes
        self.listing_fails = listing_fails
        self.aborted: list[str] = []

    async def unfinished_writes(self) -> AsyncIterator[UnfinishedWrite]:
        if self.listing_fails:
            raise StoreUnavailable("Store half: the endpoint cannot be reached.")
        for write in self.writes:
            yield write

    async def abort_unfinished(self, write: UnfinishedWrite) -> None:
        if write.handle == "stuck":
            raise StoreUnavailable("Store half: the endpoint could not abort (500).")
        self.aborted.append(write.handle)


async def test_unfinished_writes_old_and_idle_are_aborted_and_failures_reported(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    hours_ago = now - timedelta(hours=2)
    writes = [
        UnfinishedWrite(OLD, "old", hours_ago),
        UnfinishedWrite(KEPT, "stuck", hours_ago),
        UnfinishedWrite(YOUNG, "young", now),
        UnfinishedWrite(WRITING, "busy", hours_ago),
    ]
    store = HalfWritten(tmp_path, writes, listing_fails=False)
    await store.open()
    stores = StoreSet({"half": store}, "half")
    collector = OrphanCollector(References([], {WRITING}), stores, grace=3600, clock=lambda: now)

    dry = (await collector.collect(dry_run=True))[0]
    assert [w.handle for w in dry.unfinished] == ["old", "stuck"]
    assert (dry.aborted, dry.young, store.aborted) == (0, 2, [])

    report = (await collector.collect())[0]
    assert (report.aborted, store.aborted) == (1, ["old"])
    assert report.failed == [f"unfinished write stuck of {KEPT}"]


async def test_unfinished_writes_that_cannot_be_listed_fail_the_run_not_the_orphans(
    tmp_path: Path,
) -> None:
    store = HalfWritten(tmp_path / "images", [], listing_fails=True)
    await store.open()
    await store.add(OLD, _bytes(b"orphan"), size=None)
    later = datetime.now(UTC) + timedelta(days=1)
    stores = StoreSet({"half": store}, "half")
    report = (await OrphanCollector(References([]), stores, clock=lambda: later).collect())[0]
    assert report.removed == 1
    assert report.failed == ["unfinished writes: Store half: the endpoint cannot be reached."]
