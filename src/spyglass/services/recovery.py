"""Nothing stays in ``saving`` after a crash.

An upload moves its image to ``saving`` and, while the bytes flow, renews a lease
(``TransferLeases``) every few seconds. If the server dies (kill -9, power loss), the lease
runs out; any server's sweep (at start-up, then every minute, and ``spyglass scrub``) finds
images in ``saving`` whose lease is gone, asks every store to drop what the interrupted write
left (the filesystem store's partial files...), and puts the image back to ``queued``, so its
owner can upload again. Leases, not "images this process started", because several servers
share one database: a sweep must never touch an upload that another, live server is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio

from spyglass.domain.image import Image, ImageStatus
from spyglass.domain.states import transition
from spyglass.errors import Conflict, ImageNotFound
from spyglass.services.images import ImageService
from spyglass.services.ports import ImageRepository, TransferLeases
from spyglass.timeutils import utcnow

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
"""``[recovery] upload_lease``; renewed four times per lease, swept once per lease."""
HOLDER = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def leased(
    leases: TransferLeases, image_id: str, seconds: float = LEASE_SECONDS
) -> AsyncIterator[None]:
    """Hold ``image_id``'s lease for as long as the body runs."""
    await leases.hold(image_id, HOLDER, seconds=seconds)

    async def renew() -> None:
        while True:
            await anyio.sleep(seconds / 4)
            try:
                await leases.hold(image_id, HOLDER, seconds=seconds)
            except Exception:  # the database may be away for a moment; try again
                log.warning("image %s: could not renew its upload lease", image_id)

    # A plain task, not a task group: the upload's own errors must reach the caller as
    # they are, not wrapped in an exception group.
    renewing = asyncio.ensure_future(renew())
    try:
        yield
    finally:
        renewing.cancel()
        with anyio.CancelScope(shield=True):
            try:
                await leases.release(image_id, HOLDER)
            except Exception:  # it expires by itself
                log.warning("image %s: could not release its upload lease", image_id)


async def back_to_queued(repo: ImageRepository, image: Image, status: ImageStatus) -> bool:
    """Undo ``saving`` (to ``status``); whether it was undone. If the image was deleted or
    changed meanwhile there is nothing to undo."""
    queued = transition(image, status)
    queued.locations = []
    queued.checksum = queued.os_hash_algo = queued.os_hash_value = None
    try:
        await repo.save_data(queued, expect_status=ImageStatus.SAVING, events=("image.update",))
    except (ImageNotFound, Conflict):
        log.info("image %s changed during a failed upload; not restoring queued", image.id)
        return False
    return True


class Recovery:
    def __init__(
        self, images: ImageService, leases: TransferLeases, *, lease: float = LEASE_SECONDS
    ) -> None:
        self.images = images
        self.leases = leases
        self.lease = lease
        self.grace = timedelta(seconds=2 * lease)
        """An image must also have been unchanged this long: covers the moment between
        the move to ``saving`` and the first lease."""

    async def sweep(self) -> list[str]:
        """Put every abandoned upload's image back to ``queued``; the ids recovered."""
        recovered = []
        for image_id in await self.leases.abandoned(older_than=utcnow() - self.grace):
            try:
                image = await self.images.repo.get(image_id)
            except ImageNotFound:
                continue
            for store in self.images.stores.stores.values():
                await store.discard_partial(image_id)
            if await back_to_queued(self.images.repo, image, ImageStatus.QUEUED):
                log.warning(
                    "image %s: its upload was interrupted (the server writing it stopped); "
                    "back to queued, partial data removed",
                    image_id,
                )
                recovered.append(image_id)
        return recovered

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Sweep at start-up and then once per lease, in the background."""

        async def loop() -> None:
            while True:
                try:
                    await self.sweep()
                except Exception:  # the database may be down; the next sweep tries again
                    log.warning("the sweep for interrupted uploads failed", exc_info=True)
                await anyio.sleep(self.lease)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(loop)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
