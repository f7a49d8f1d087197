"""``TaskRepository`` implemented by calls to the registry (one call per method).

Import tasks and their queue live with the rest of the metadata, so API servers behind
one registry claim from one queue: the registry's database does the ``SKIP LOCKED``
claims and the leases, exactly as it does for API servers that reach it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from spyglass.domain.image import Image
from spyglass.domain.tasks import Task
from spyglass.registry.client import adopt
from spyglass.registry.connection import RegistryConnection
from spyglass.services.tasks_ports import Claim, TaskQuery


class RemoteTaskRepository:
    """``TaskRepository`` at the registry; images it saves are updated in place, as the
    SQL repository updates them."""

    def __init__(self, rpc: RegistryConnection) -> None:
        self.rpc = rpc

    async def add(self, task: Task, *, run: bool, node: str | None = None) -> Task:
        return cast("Task", await self.rpc.call("tasks.add", task=task, run=run, node=node))

    async def begin(
        self,
        task: Task,
        image: Image,
        *,
        expect: Image,
        events: Sequence[str] = (),
        node: str | None = None,
    ) -> Image:
        saved = await self.rpc.call(
            "tasks.begin", task=task, image=image, expect=expect, events=events, node=node
        )
        return adopt(image, saved)

    async def get(self, task_id: str) -> Task:
        return cast("Task", await self.rpc.call("tasks.get", task_id=task_id))

    async def list(self, query: TaskQuery) -> list[Task]:
        return cast("list[Task]", await self.rpc.call("tasks.list", query=query))

    async def claim(self, worker: str, *, lease: float, node: str | None) -> Claim | None:
        found = await self.rpc.call("tasks.claim", worker=worker, lease=lease, node=node)
        return cast("Claim | None", found)

    async def renew(self, task_id: str, worker: str, *, lease: float) -> bool:
        renewed = await self.rpc.call("tasks.renew", task_id=task_id, worker=worker, lease=lease)
        return cast("bool", renewed)

    async def note(self, task_id: str, worker: str, error: str) -> None:
        await self.rpc.call("tasks.note", task_id=task_id, worker=worker, error=error)

    async def save(self, task: Task) -> Task:
        return cast("Task", await self.rpc.call("tasks.save", task=task))

    async def finish(
        self,
        task: Task,
        *,
        image: Image | None = None,
        expect: Image | None = None,
        events: Sequence[str] = (),
    ) -> Image | None:
        saved = await self.rpc.call(
            "tasks.finish", task=task, image=image, expect=expect, events=events
        )
        if image is None or saved is None:
            return None
        return adopt(image, saved)

    async def expire(self, now: datetime) -> int:
        return cast("int", await self.rpc.call("tasks.expire", now=now))
