"""``/v2/schemas/task`` and ``/v2/schemas/tasks``: upstream's task documents."""

from __future__ import annotations

from typing import Any

from spyglass.domain.tasks import TASK_TYPES, TaskStatus

_UUID = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"


def _properties() -> dict[str, Any]:
    def text(description: str) -> dict[str, Any]:
        return {"description": description, "type": "string"}

    return {
        "id": {"description": "An identifier for the task", "pattern": _UUID, "type": "string"},
        "type": {
            "description": "The type of task represented by this content",
            "enum": list(TASK_TYPES),
            "type": "string",
        },
        "status": {
            "description": "The current status of this task",
            "enum": [s.value for s in TaskStatus],
            "type": "string",
        },
        "input": {
            "description": "The parameters required by task, JSON blob",
            "type": ["null", "object"],
        },
        "result": {
            "description": "The result of current task, JSON blob",
            "type": ["null", "object"],
        },
        "owner": text("An identifier for the owner of this task"),
        "message": text(
            "Human-readable informative message only included when appropriate (usually on failure)"
        ),
        "image_id": text("Image associated with the task"),
        "request_id": text("Human-readable informative request-id"),
        "user_id": text("User associated with the task"),
        "expires_at": {
            "description": "Datetime when this resource would be subject to removal",
            "type": ["null", "string"],
        },
        "created_at": text("Datetime when this resource was created"),
        "updated_at": text("Datetime when this resource was updated"),
        "self": {"readOnly": True, "type": "string"},
        "schema": {"readOnly": True, "type": "string"},
    }


def task_schema() -> dict[str, Any]:
    return {"name": "task", "properties": _properties(), "additionalProperties": False}


def tasks_schema() -> dict[str, Any]:
    partial = _properties()
    for hidden in ("input", "result", "message"):
        del partial[hidden]
    item = {"name": "task", "properties": partial, "additionalProperties": False}
    return {
        "name": "tasks",
        "properties": {
            "tasks": {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
