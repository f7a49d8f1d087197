"""Tasks: background work a client can follow (imports), as upstream's task entity.

Pure: no I/O. A task moves ``pending -> processing -> success|failure`` (or
``pending -> failure``); ``expires_at`` is set when it finishes.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from spyglass.errors import InvalidTransition


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"


TASK_TYPES = ("import", "api_image_import", "location_import")
"""Every type upstream records; only ``import`` may be created through ``/v2/tasks``."""

_MOVES = {
    TaskStatus.PENDING: frozenset({TaskStatus.PROCESSING, TaskStatus.FAILURE}),
    TaskStatus.PROCESSING: frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE}),
    TaskStatus.SUCCESS: frozenset(),
    TaskStatus.FAILURE: frozenset(),
}


@dataclass(slots=True)
class Task:
    id: str
    type: str
    status: TaskStatus
    owner: str | None
    created_at: datetime
    updated_at: datetime
    input: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    message: str = ""
    expires_at: datetime | None = None
    image_id: str | None = None
    request_id: str | None = None
    user_id: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in (TaskStatus.SUCCESS, TaskStatus.FAILURE)

    def copy(self) -> Task:
        return dataclasses.replace(self, input=dict(self.input))


def new_task(
    kind: str,
    *,
    owner: str | None,
    now: datetime,
    input: dict[str, Any],
    image_id: str | None = None,
    request_id: str | None = None,
    user_id: str | None = None,
) -> Task:
    """A ``pending`` task with a fresh id."""
    return Task(
        id=str(uuid.uuid4()),
        type=kind,
        status=TaskStatus.PENDING,
        owner=owner,
        created_at=now,
        updated_at=now,
        input=input,
        image_id=image_id,
        request_id=request_id,
        user_id=user_id,
    )


def move(task: Task, to: TaskStatus, now: datetime, ttl_hours: int) -> Task:
    """A copy of ``task`` in status ``to``; finishing starts its time to live."""
    if to is not task.status and to not in _MOVES[task.status]:
        raise InvalidTransition(f"Task status transition from {task.status} to {to} is not allowed")
    moved = task.copy()
    moved.status = to
    moved.updated_at = now
    if moved.finished:
        moved.expires_at = now + timedelta(hours=ttl_hours)
    return moved
