"""The background publisher: outbox rows to the broker, in order, at least once.

Each API worker runs one. It claims a batch (a lease, so a crashed worker's
claims return to the pool), publishes it, and deletes the rows once the
broker confirms. When the broker is away it waits, doubling the wait up to
``retry_max_backoff``, and claims nothing meanwhile; requests never wait for
it. Delivery is at least once: a worker that dies between the broker's
confirm and the delete leaves rows that are sent again, with the same
``message_id``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid

import anyio

from spyglass.db import outbox
from spyglass.db.engine import Database
from spyglass.notify.base import Notifier, NotifierUnavailable

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        database: Database,
        notifier: Notifier,
        *,
        batch: int = 200,
        lease: float = 30.0,
        poll: float = 1.0,
        retry_backoff: float = 2.0,
        retry_max_backoff: float = 30.0,
    ) -> None:
        self.database = database
        self.notifier = notifier
        self.batch = batch
        self.lease = lease
        self.poll = poll
        self.retry_backoff = max(0.05, retry_backoff)
        self.retry_max_backoff = max(self.retry_backoff, retry_max_backoff)
        self.worker = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = anyio.Event()
        self._failures = 0
        self.delivered = 0

    def wake(self) -> None:
        """New rows were committed in this process: look now rather than at the next poll."""
        self._wake.set()

    def _backoff(self) -> float:
        return float(min(self.retry_max_backoff, self.retry_backoff * 2 ** (self._failures - 1)))

    async def _sleep(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._wake.wait()
        self._wake = anyio.Event()

    async def run(self) -> None:
        """Publish until cancelled."""
        while True:
            try:
                sent = await self.step()
            except Exception:  # the database, say: log, wait, go on
                log.exception("notification publisher: unexpected failure")
                self._failures += 1
                await anyio.sleep(self._backoff())
                continue
            if sent is None:  # broker unavailable
                await anyio.sleep(self._backoff())
            elif sent == 0:
                await self._sleep(self.poll)

    async def step(self) -> int | None:
        """One round: the number of events delivered, or ``None`` if the broker is away."""
        try:
            await self.notifier.connect()
        except NotifierUnavailable as exc:
            self._unavailable(exc)
            return None
        worker, lease, limit = self.worker, self.lease, self.batch
        messages = await self.database.run(
            lambda s: outbox.claim(s, worker, limit=limit, lease=lease), write=True
        )
        if not messages:
            return 0
        ids = [m.outbox_id for m in messages]
        try:
            with anyio.CancelScope(shield=True):
                await self.notifier.send(messages)
        except NotifierUnavailable as exc:
            self._unavailable(exc)
            delay, error = self._backoff(), str(exc)
            with anyio.CancelScope(shield=True):
                await self.database.run(
                    lambda s: outbox.release(s, worker, ids, delay=delay, error=error),
                    write=True,
                )
            return None
        with anyio.CancelScope(shield=True):
            await self.database.run(lambda s: outbox.delivered(s, worker, ids), write=True)
        if self._failures:
            log.info("notifications: broker reachable again; delivering the backlog")
        self._failures = 0
        self.delivered += len(messages)
        return len(messages)

    def _unavailable(self, exc: Exception) -> None:
        self._failures += 1
        level = logging.WARNING if self._failures in (1, 10) or self._failures % 100 == 0 else 10
        log.log(level, "notifications: broker unavailable (attempt %d): %s", self._failures, exc)

    async def drain(self, seconds: float = 5.0) -> None:
        """Deliver what is waiting, for a clean shutdown; stop at the first failure."""
        with anyio.move_on_after(seconds):
            while True:
                sent = await self.step()
                if not sent:
                    return

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.notifier.close()
