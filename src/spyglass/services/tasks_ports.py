"""What tasks and imports need from persistence, as a Protocol (``db/tasks.py`` implements it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from spyglass.domain.image import Image
from spyglass.domain.tasks import Task


@dataclass(frozen=True, slots=True)
class Claim:
    """A task a worker holds, and how many times it was claimed before."""

    task: Task
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class TaskQuery:
    owner: str | None
    """``None``: every project's tasks (administrators)."""
    limit: int
    marker: str | None = None
    type: str | None = None
    status: str | None = None
    image_id: str | None = None
    sort_key: str = "created_at"
    descending: bool = True


class TaskRepository(Protocol):
    async def add(self, task: Task, *, run: bool, node: str | None = None) -> Task: ...

    async def begin(
        self,
        task: Task,
        image: Image,
        *,
        expect: Image,
        events: Sequence[str] = (),
        node: str | None = None,
    ) -> Image: ...

    async def get(self, task_id: str) -> Task: ...

    async def list(self, query: TaskQuery) -> list[Task]: ...

    async def claim(self, worker: str, *, lease: float, node: str | None) -> Claim | None: ...

    async def renew(self, task_id: str, worker: str, *, lease: float) -> bool: ...

    async def note(self, task_id: str, worker: str, error: str) -> None: ...

    async def save(self, task: Task) -> Task: ...

    async def finish(
        self,
        task: Task,
        *,
        image: Image | None = None,
        expect: Image | None = None,
        events: Sequence[str] = (),
    ) -> Image | None: ...

    async def expire(self, now: datetime) -> int: ...
