"""The task worker runs each task under the id of the request that created it."""

from __future__ import annotations

from datetime import datetime

import anyio

from spyglass import request_ids
from spyglass.domain.tasks import new_task
from spyglass.imports.worker import TaskWorker
from spyglass.services.tasks_ports import Claim

NOW = datetime(2026, 1, 1, 12, 0, 0)


class OneClaim:
    """Hands out the claims it was given, then nothing (the parts the worker calls)."""

    def __init__(self, *claims: Claim) -> None:
        self.claims = list(claims)

    async def expire(self, now: datetime) -> int:
        return 0

    async def claim(self, worker: str, *, lease: float, node: str | None) -> Claim | None:
        return self.claims.pop(0) if self.claims else None

    async def renew(self, task_id: str, worker: str, *, lease: float) -> bool:
        return True


async def test_a_task_runs_under_its_requests_id_not_the_workers() -> None:
    task = new_task("import", owner="p1", now=NOW, input={}, request_id="req-5b2a")
    seen: list[str | None] = []
    done = anyio.Event()

    async def runner(claim: Claim) -> None:
        seen.append(request_ids.current())
        done.set()

    worker = TaskWorker(
        OneClaim(Claim(task, 0, None)),  # type: ignore[arg-type]
        runner,
        poll_interval=0.05,
        clock=lambda: NOW,
    )
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run)
            await done.wait()
            group.cancel_scope.cancel()
    assert seen == ["req-5b2a"]
    assert request_ids.current() is None  # bound for the task only
