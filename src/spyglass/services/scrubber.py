"""Finish delayed deletes (``delayed_delete``): the seed era's ``glance-scrubber``.

A deleted image with data becomes ``pending_delete``; after ``scrub_time``
seconds the scrubber deletes its data and marks it ``deleted``. Until then an
operator may restore it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from spyglass.services.ports import DeletionQueue
from spyglass.stores.registry import StoreSet

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScrubReport:
    scrubbed: int
    failed: int


class Scrubber:
    def __init__(self, queue: DeletionQueue, stores: StoreSet, *, scrub_time: int) -> None:
        self.queue = queue
        self.stores = stores
        self.scrub_time = scrub_time

    async def scrub(self, now: datetime) -> ScrubReport:
        """Delete the data of every image pending for longer than ``scrub_time``."""
        scrubbed = failed = 0
        due = now - timedelta(seconds=self.scrub_time)
        for image_id, urls in await self.queue.pending_deletes(due):
            try:
                for url in urls:
                    if await self.queue.location_in_use(url, excluding=image_id):
                        log.warning("image %s: data still used by another image", image_id)
                        continue
                    await self.stores.delete(url)
            except Exception:
                log.exception("could not delete the data of image %s; will retry", image_id)
                failed += 1
                continue
            await self.queue.finish_delete(image_id)
            scrubbed += 1
        return ScrubReport(scrubbed=scrubbed, failed=failed)

    async def restore(self, image_id: str) -> None:
        await self.queue.restore(image_id)
