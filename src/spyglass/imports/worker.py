"""The task worker each API worker runs: claim a queued task, run it while renewing
its lease, repeat.

Tasks live in the database, so they outlive the process that accepted them:
a task whose worker died (its lease ran out) is claimed again by any worker
(or, for data staged on one node, by a worker of that node) and run again or
failed with the reason, so no image stays ``importing``. A task runs under the id of the
request that created it (``spyglass.request_ids``), so its lines, registry calls and
notifications can be traced back to that request, whichever worker runs it.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import anyio

from spyglass import request_ids
from spyglass.services.tasks_ports import Claim, TaskRepository

log = logging.getLogger(__name__)

Runner = Callable[[Claim], Awaitable[None]]
EXPIRY_INTERVAL = 300.0
"""Seconds between soft-deletes of tasks past their time to live."""


def worker_name() -> str:
    """Unique per process: host, pid and a random part (at most 64 characters)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class TaskWorker:
    def __init__(
        self,
        tasks: TaskRepository,
        runner: Runner,
        *,
        lease: float = 60.0,
        node: str | None = None,
        concurrency: int = 2,
        poll_interval: float = 2.0,
        clock: Callable[[], datetime],
    ) -> None:
        self.tasks = tasks
        self.runner = runner
        self.lease = lease
        self.node = node
        self.poll_interval = poll_interval
        self.name = worker_name()
        self.now = clock
        self._slots = anyio.Semaphore(concurrency)
        self._wake = anyio.Event()
        self._next_expiry = 0.0

    def wake(self) -> None:
        """A task was queued here: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        async with anyio.create_task_group() as group:
            while True:
                await self._slots.acquire()
                claim = await self._claim()
                if claim is None:
                    self._slots.release()
                    await self._idle()
                    continue
                group.start_soon(self._run_one, claim)

    async def _claim(self) -> Claim | None:
        try:
            if anyio.current_time() >= self._next_expiry:
                self._next_expiry = anyio.current_time() + EXPIRY_INTERVAL
                await self.tasks.expire(self.now())
            return await self.tasks.claim(self.name, lease=self.lease, node=self.node)
        except Exception:
            log.exception("could not claim a task; trying again later")
            return None

    async def _idle(self) -> None:
        with anyio.move_on_after(self.poll_interval):
            await self._wake.wait()
        self._wake = anyio.Event()

    async def _run_one(self, claim: Claim) -> None:
        with request_ids.bound(claim.task.request_id):
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._keep_lease, claim, group.cancel_scope)
                    try:
                        await self.runner(claim)
                    finally:
                        group.cancel_scope.cancel()
            except Exception:
                log.exception("task %s: the worker failed", claim.task.id)
            finally:
                self._slots.release()

    async def _keep_lease(self, claim: Claim, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(self.lease / 3)
            try:
                mine = await self.tasks.renew(claim.task.id, self.name, lease=self.lease)
            except Exception:
                log.exception("task %s: could not renew its lease", claim.task.id)
                continue
            if not mine:
                log.warning("task %s: another worker took it over; stopping", claim.task.id)
                scope.cancel()
                return
