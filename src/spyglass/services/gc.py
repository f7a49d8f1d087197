"""Orphan collection: data in a store that no image's location refers to.

Such data is what a crash or a failed delete leaves behind: a file linked into
place by an upload whose server died before it recorded the location, a delete
whose store call failed after the image row was gone. Nothing refers to it, so
nothing else will ever remove it.

Three guards keep live data safe, also with several servers on one store:
data younger than the grace period is left alone (an upload records its
location only after the last byte is written); data of an image that is being
written (``saving``, ``uploading``, ``importing``) is left alone; and the
references are read again after the listing, so a location recorded while the
store was listed still counts.

Writes a store began and never finished (``Store.unfinished_writes``: S3 multipart
uploads a killed server left) are aborted under the same two first guards: older
than the grace period, and not of an image being written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from spyglass.errors import NotFound, SpyglassError
from spyglass.stores.base import InventoryUnsupported, Store, StoredObject, UnfinishedWrite
from spyglass.stores.registry import StoreSet

log = logging.getLogger(__name__)

DEFAULT_GRACE = 3600.0


class References(Protocol):
    async def locations(self) -> list[str]: ...

    async def writing(self) -> set[str]: ...


@dataclass
class StoreReport:
    backend_id: str
    scanned: int = 0
    orphans: list[StoredObject] = field(default_factory=list)
    removed: int = 0
    removed_bytes: int = 0
    young: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: str | None = None
    """Why this store was not looked at (its driver cannot list its data)."""
    unfinished: list[UnfinishedWrite] = field(default_factory=list)
    """Old unfinished writes of images not being written: aborted unless a dry run."""
    aborted: int = 0

    @property
    def orphan_bytes(self) -> int:
        return sum(o.size for o in self.orphans)


Progress = Callable[[str, StoredObject], None]


class OrphanCollector:
    def __init__(
        self,
        references: References,
        stores: StoreSet,
        *,
        grace: float = DEFAULT_GRACE,
        clock: Callable[[], datetime],
        # naive datetimes are taken as UTC (spyglass.timeutils.utcnow)
    ) -> None:
        self.references = references
        self.stores = stores
        self.grace = timedelta(seconds=grace)
        self.clock = clock

    async def collect(
        self, *, dry_run: bool = False, progress: Progress | None = None
    ) -> list[StoreReport]:
        """Find (and unless ``dry_run`` remove) the orphans of every store; one report each."""
        return [
            await self._collect(backend_id, store, dry_run, progress)
            for backend_id, store in self.stores.stores.items()
        ]

    async def _collect(
        self, backend_id: str, store: Store, dry_run: bool, progress: Progress | None
    ) -> StoreReport:
        report = StoreReport(backend_id)
        before = self._keys(store, await self.references.locations())
        now = self.clock()
        cutoff = (now if now.tzinfo else now.replace(tzinfo=UTC)) - self.grace
        candidates: list[StoredObject] = []
        try:
            async for stored in store.inventory():
                report.scanned += 1
                if progress is not None:
                    progress(backend_id, stored)
                if store.location_key(stored.location) in before:
                    continue
                if stored.modified > cutoff:
                    report.young += 1
                    continue
                candidates.append(stored)
        except InventoryUnsupported as exc:
            report.skipped = str(exc)
            return report
        except SpyglassError as exc:
            report.skipped = f"listing failed: {exc.message}"
            return report
        after = self._keys(store, await self.references.locations())
        writing = await self.references.writing()
        for stored in candidates:
            if store.location_key(stored.location) in after:
                continue
            if store.image_of(stored.location) in writing:
                report.young += 1
                continue
            report.orphans.append(stored)
            if not dry_run:
                await self._remove(store, stored, report)
        await self._abort_unfinished(store, cutoff, dry_run, report)
        return report

    async def _abort_unfinished(
        self, store: Store, cutoff: datetime, dry_run: bool, report: StoreReport
    ) -> None:
        try:
            begun = [w async for w in store.unfinished_writes()]
        except SpyglassError as exc:
            log.warning("gc: cannot list the unfinished writes of %s: %s", report.backend_id, exc)
            report.failed.append(f"unfinished writes: {exc.message}")
            return
        writing = await self.references.writing()  # read after the listing, as above
        for write in begun:
            if write.modified > cutoff or write.image_id in writing:
                report.young += 1
                continue
            report.unfinished.append(write)
            if dry_run:
                continue
            try:
                await store.abort_unfinished(write)
            except SpyglassError as exc:
                log.warning("gc: cannot abort %s of %s: %s", write.handle, write.image_id, exc)
                report.failed.append(f"unfinished write {write.handle} of {write.image_id}")
                continue
            report.aborted += 1

    @staticmethod
    def _keys(store: Store, locations: Iterable[str]) -> set[str]:
        return {store.location_key(location) for location in locations}

    @staticmethod
    async def _remove(store: Store, stored: StoredObject, report: StoreReport) -> None:
        try:
            await store.delete(stored.location)
        except NotFound:
            pass  # gone meanwhile: nothing to do
        except SpyglassError as exc:
            log.warning("gc: cannot remove %s: %s", stored.location, exc.message)
            report.failed.append(stored.location)
            return
        report.removed += 1
        report.removed_bytes += stored.size
