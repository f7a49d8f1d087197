"""The tasks API's use cases: legacy ``import`` tasks, listing and showing tasks,
and an image's tasks (v2.12). Everything but an image's tasks is behind the
``tasks_api_access`` policy (administrators by default), as upstream."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import Any

from spyglass.context import RequestContext
from spyglass.domain.tasks import Task, new_task
from spyglass.errors import BadRequest, Forbidden, NotFound
from spyglass.imports.job import ROLES_KEY
from spyglass.services.images import ImageService
from spyglass.services.tasks_ports import TaskQuery, TaskRepository

SORT_KEYS = ("created_at", "updated_at", "id", "type", "status", "owner", "expires_at")
LEGACY_INPUT = ("import_from", "import_from_format", "image_properties")


class TaskService:
    def __init__(
        self,
        images: ImageService,
        tasks: TaskRepository,
        *,
        clock: Callable[[], datetime],
        wake: Callable[[], None] = lambda: None,
        check_uri: Callable[[str], None] = lambda uri: None,
    ) -> None:
        self.check_uri = check_uri
        """Refuses an ``import_from`` the outbound rules do not allow (400)."""
        self.images = images
        self.tasks = tasks
        self.now = clock
        self.wake = wake

    def _authorize(self, ctx: RequestContext) -> None:
        target = {"project_id": ctx.project_id}
        if not self.images.access.policy.allowed("tasks_api_access", ctx, target):
            raise Forbidden("You are not authorized to complete tasks_api_access action.")

    async def create(self, ctx: RequestContext, body: Any) -> Task:
        self._authorize(ctx)
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object.")
        for key in ("type", "input"):
            if key not in body:
                raise BadRequest(f"Task '{key}' is required")
        if body["type"] != "import":
            raise BadRequest(f"Invalid type value: {body['type']}")
        data = body["input"]
        if not isinstance(data, dict):
            raise BadRequest("Task input must be a JSON object.")
        missing = [key for key in LEGACY_INPUT if key not in data]
        if missing:
            raise BadRequest(f"Input does not contain {', '.join(missing)}")
        if not isinstance(data["image_properties"], dict):
            raise BadRequest("image_properties must be a JSON object.")
        if not isinstance(data["import_from"], str):
            raise BadRequest("import_from must be a URL.")
        self.check_uri(data["import_from"])
        task = new_task(
            "import",
            owner=ctx.project_id,
            now=self.now(),
            input={**data, ROLES_KEY: sorted(ctx.roles)},  # the image is made as the caller
            request_id=ctx.request_id,
            user_id=ctx.user_id,
        )
        await self.tasks.add(task, run=True)
        self.wake()
        return task

    async def get(self, ctx: RequestContext, task_id: str) -> Task:
        self._authorize(ctx)
        task = await self.tasks.get(task_id)
        if not ctx.is_admin and task.owner != ctx.project_id:
            raise NotFound(f"Task with the given id {task_id} not found")
        return task

    async def list(self, ctx: RequestContext, query: TaskQuery) -> list[Task]:
        self._authorize(ctx)
        if query.sort_key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort_key: {query.sort_key}")
        return await self.tasks.list(query)

    async def for_image(self, ctx: RequestContext, image_id: str) -> builtins.list[Task]:
        """The image's tasks, newest first, for whoever may see the image."""
        await self.images.get(ctx, image_id)
        return await self.tasks.list(TaskQuery(owner=None, limit=1000, image_id=image_id))
