"""``/v2/tasks`` (legacy, deprecated upstream), ``GET /v2/images/{id}/tasks`` (v2.12)
and the task schemas."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from spyglass.api.errors import error_response
from spyglass.api.v2.common import context, json_body, require_no_body, services
from spyglass.api.v2.views import isotime
from spyglass.domain import task_schemas
from spyglass.domain.tasks import TASK_TYPES, Task, TaskStatus
from spyglass.errors import BadRequest, NotFound
from spyglass.imports.job import shown_input
from spyglass.services.tasks import TaskService
from spyglass.services.tasks_ports import TaskQuery


def _tasks(request: Request) -> TaskService:
    tasks = services(request).tasks
    if tasks is None:
        raise NotFound("Tasks are not available.")
    return tasks


def _common(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type,
        "status": task.status.value,
        "owner": task.owner,
        "created_at": isotime(task.created_at),
        "updated_at": isotime(task.updated_at),
    }


def task_view(task: Task) -> dict[str, Any]:
    body = _common(task)
    body.update(
        input=shown_input(task.input),
        message=task.message,
        result=task.result,
        self=f"/v2/tasks/{task.id}",
        schema="/v2/schemas/task",
    )
    for key in ("image_id", "request_id", "user_id"):
        if getattr(task, key):
            body[key] = getattr(task, key)
    if task.expires_at:
        body["expires_at"] = isotime(task.expires_at)
    return body


def _stub(task: Task) -> dict[str, Any]:
    body = _common(task)
    body.update(self=f"/v2/tasks/{task.id}", schema="/v2/schemas/task")
    if task.expires_at:
        body["expires_at"] = isotime(task.expires_at)
    return body


def image_task_view(task: Task) -> dict[str, Any]:
    """As ``GET /v2/images/{id}/tasks`` shows each task (every field, always)."""
    body = _common(task)
    body.update(
        expires_at=isotime(task.expires_at),
        deleted_at=None,
        deleted=False,
        image_id=task.image_id,
        request_id=task.request_id,
        user_id=task.user_id,
        input=shown_input(task.input),
        result=task.result,
        message=task.message,
    )
    return body


async def create_task(request: Request) -> Response:
    task = await _tasks(request).create(context(request), await json_body(request))
    return JSONResponse(
        task_view(task), status_code=201, headers={"Location": f"/v2/tasks/{task.id}"}
    )


async def show_task(request: Request) -> Response:
    await require_no_body(request)
    task = await _tasks(request).get(context(request), request.path_params["task_id"])
    return JSONResponse(task_view(task))


async def delete_task(request: Request) -> Response:
    return error_response(
        request,
        405,
        "This operation is currently not permitted on Glance Tasks. They are auto deleted "
        "after reaching the time based on their expires_at property.",
        {"Allow": "GET"},
    )


async def list_tasks(request: Request) -> Response:
    await require_no_body(request)
    svc = services(request)
    ctx = context(request)
    params = dict(request.query_params)
    query = _query(params, None if ctx.is_admin else ctx.project_id, svc.settings)
    found = await _tasks(request).list(ctx, query)
    rest = {k: v for k, v in params.items() if k != "marker"}
    body: dict[str, Any] = {
        "tasks": [_stub(t) for t in found],
        "first": "/v2/tasks" + (f"?{urlencode(rest)}" if rest else ""),
        "schema": "/v2/schemas/tasks",
    }
    if found and len(found) == query.limit:
        body["next"] = "/v2/tasks?" + urlencode({**rest, "marker": found[-1].id})
    return JSONResponse(body)


def _query(params: dict[str, str], owner: str | None, settings: Any) -> TaskQuery:
    direction = params.get("sort_dir", "desc")
    if direction not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort direction: {direction}")
    limit = settings.limit_param_default
    if "limit" in params:
        raw = params["limit"]
        if not (raw.isascii() and raw.isdigit()):
            raise BadRequest("limit param must be an integer")
        limit = int(raw)
    marker = params.get("marker")
    if marker is not None:
        try:
            uuid.UUID(marker)
        except ValueError:
            raise BadRequest("Invalid marker format") from None
    status = params.get("status")
    if status is not None and status not in {s.value for s in TaskStatus}:
        raise BadRequest(f"Invalid status value: {status}")
    kind = params.get("type")
    if kind is not None and kind not in TASK_TYPES:
        raise BadRequest(f"Invalid type value: {kind}")
    return TaskQuery(
        owner=owner,
        limit=min(limit, settings.api_limit_max),
        marker=marker,
        type=kind,
        status=status,
        sort_key=params.get("sort_key", "created_at"),
        descending=direction == "desc",
    )


async def image_tasks(request: Request) -> Response:
    await require_no_body(request)
    found = await _tasks(request).for_image(context(request), request.path_params["image_id"])
    return JSONResponse({"tasks": [image_task_view(t) for t in found]})


async def task_schema(request: Request) -> Response:
    await require_no_body(request)
    return JSONResponse(task_schemas.task_schema())


async def tasks_schema(request: Request) -> Response:
    await require_no_body(request)
    return JSONResponse(task_schemas.tasks_schema())
