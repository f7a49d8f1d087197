"""The background publisher: outbox rows to the broker, in order, at least once.

Each API worker runs one. It claims a batch (a lease, so a crashed worker's
claims return to the pool), publishes it, and deletes the rows the broker
confirmed in the transaction of its next claim. After a commit wakes it, it
lingers a moment so that busy servers publish in batches with few
transactions. When the broker is away it waits, doubling the wait up to
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
from sqlalchemy.orm import Session

from spyglass.db import outbox
from spyglass.db.engine import Database
from spyglass.notify.base import Notifier, NotifierUnavailable
from spyglass.notify.envelope import Message

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
        linger: float = 0.2,
        retry_backoff: float = 2.0,
        retry_max_backoff: float = 30.0,
    ) -> None:
        self.database = database
        self.notifier = notifier
        self.batch = batch
        self.lease = lease
        self.poll = poll
        self.linger = linger
        self.retry_backoff = max(0.05, retry_backoff)
        self.retry_max_backoff = max(self.retry_backoff, retry_max_backoff)
        self.worker = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = anyio.Event()
        self._failures = 0
        self._confirmed: list[int] = []  # sent and confirmed, deleted with the next claim
        self.delivered = 0

    def wake(self) -> None:
        """New rows were committed in this process: look now rather than at the next poll."""
        self._wake.set()

    def _backoff(self) -> float:
        return float(min(self.retry_max_backoff, self.retry_backoff * 2 ** (self._failures - 1)))

    async def _sleep(self, seconds: float) -> None:
        woken = False
        with anyio.move_on_after(seconds):
            await self._wake.wait()
            woken = True
        self._wake = anyio.Event()
        if woken:  # let a few more commits join the batch: fewer, larger transactions
            await anyio.sleep(self.linger)

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
            elif sent < self.batch:
                await self._sleep(self.poll)

    async def step(self) -> int | None:
        """One round: the number of events delivered, or ``None`` if the broker is away."""
        try:
            await self.notifier.connect()
        except NotifierUnavailable as exc:
            self._unavailable(exc)
            return None
        worker, lease, limit = self.worker, self.lease, self.batch
        done, self._confirmed = self._confirmed, []

        def prune_and_claim(session: Session) -> list[Message]:
            if done:
                outbox.delivered(session, worker, done)
            return outbox.claim(session, worker, limit=limit, lease=lease)

        try:
            with anyio.CancelScope(shield=True):
                messages = await self.database.run(prune_and_claim, write=True)
        except BaseException:
            self._confirmed = done + self._confirmed
            raise
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
        self._confirmed = ids
        if self._failures:
            log.info("notifications: broker reachable again; delivering the backlog")
        self._failures = 0
        self.delivered += len(messages)
        return len(messages)

    def _unavailable(self, exc: Exception) -> None:
        self._failures += 1
        level = logging.WARNING if self._failures in (1, 10) or self._failures % 100 == 0 else 10
        log.log(level, "notifications: broker unavailable (attempt %d): %s", self._failures, exc)

    async def prune(self) -> None:
        """Delete what was confirmed and not yet deleted."""
        done, self._confirmed, worker = self._confirmed, [], self.worker
        if done:
            await self.database.run(lambda s: outbox.delivered(s, worker, done), write=True)

    async def drain(self, seconds: float = 5.0) -> None:
        """Deliver what is waiting, for a clean shutdown; stop at the first failure."""
        with anyio.move_on_after(seconds):
            while await self.step():
                pass
        with anyio.CancelScope(shield=True):
            await self.prune()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.notifier.close()
