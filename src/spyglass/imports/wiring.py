"""Build the import machinery of one API worker from ``Settings``: the staging
area, the plugins, the flow, the task worker and the two services."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import anyio

from spyglass.config import Settings
from spyglass.imports.flow import ImportFlow
from spyglass.imports.plugins.base import load_plugins
from spyglass.imports.sources import RemoteGlance
from spyglass.imports.staging import StagingArea, staging_directory
from spyglass.imports.web import WebDownload
from spyglass.imports.worker import TaskWorker
from spyglass.services.imports import ImportService
from spyglass.services.tasks import TaskService
from spyglass.services.tasks_ports import TaskRepository
from spyglass.services.upload import UploadService
from spyglass.timeutils import utcnow

log = logging.getLogger(__name__)


@dataclass
class ImportParts:
    imports: ImportService
    tasks: TaskService
    staging: StagingArea
    worker: TaskWorker
    web: WebDownload

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The worker claims and runs tasks while the server serves."""
        await self.staging.open()
        async with anyio.create_task_group() as group:
            group.start_soon(self.worker.run)
            group.start_soon(self._recover_stages)
            try:
                yield
            finally:
                group.cancel_scope.cancel()
        await self.web.close()

    async def _recover_stages(self) -> None:
        """Every lease period: stages this node's dead servers left behind (a stage
        untouched for two lease periods) go back to ``queued``."""
        while True:
            try:
                await self.imports.recover_stages(2 * self.worker.lease)
                await self.imports.discard_orphans()
            except Exception:
                log.exception("could not look for interrupted stages")
            await anyio.sleep(self.worker.lease)


def _int(settings: Settings, section: str, name: str) -> int:
    return cast("int", settings.option(section, name))


def build_imports(settings: Settings, repo: TaskRepository, uploads: UploadService) -> ImportParts:
    """``repo`` is the database's task repository, or the registry's (``data_api``)."""
    staging = StagingArea(staging_directory(settings))
    web = WebDownload.from_settings(settings)
    own_url = cast("str | None", settings.option("DEFAULT", "worker_self_reference_url"))
    self_url = own_url or settings.public_endpoint
    endpoints = cast(
        "Mapping[str, str] | None", settings.option("glance_download_opts", "region_endpoints")
    )
    prefixes = cast(
        "Sequence[str]", settings.option("glance_download_properties", "extra_properties")
    )
    plugins = load_plugins(settings)
    flow = ImportFlow(
        uploads,
        repo,
        staging,
        plugins=plugins,
        web=web,
        remote=RemoteGlance(endpoints or {}, web.read_json),
        download_properties=tuple(prefixes),
        multi_store=bool(settings.enabled_backends),
        ttl_hours=_int(settings, "task", "task_time_to_live"),
        max_attempts=_int(settings, "task", "max_attempts"),
        clock=utcnow,
    )
    worker = TaskWorker(
        repo,
        flow.run,
        lease=float(_int(settings, "task", "lease_seconds")),
        node=self_url,
        clock=utcnow,
    )
    imports = ImportService(
        uploads,
        repo,
        staging,
        methods=settings.enabled_import_methods,
        web=web,
        multi_store=bool(settings.enabled_backends),
        self_url=self_url,
        clock=utcnow,
        wake=worker.wake,
        inspect_staged=not any(plugin.changes_data for plugin in plugins),
        own_url=own_url,
    )
    tasks = TaskService(uploads.images, repo, clock=utcnow, wake=worker.wake, check_uri=web.check)
    uploads.images.after_delete.append(staging.clear)  # a deleted image's staged data goes too
    return ImportParts(imports, tasks, staging, worker, web)
