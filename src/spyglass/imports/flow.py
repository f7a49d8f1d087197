"""One import task, run by a worker: acquire the bytes, run the plugins, verify,
import into each target store through the upload pipeline, then activate.

The steps, in order (each a seam of its own):

1. **acquire**: glance-direct's data is already staged; web-download and
   glance-download fetch into the staging area through the pipeline (size
   cap and quota hold while downloading); copy-image reads an existing copy.
2. **plugins** (``imports/plugins``) change the staged file and the metadata.
3. **verify** (``imports/verify.py``) checks what the plugins left.
4. **import** into each store through ``UploadService.ingest`` (hashes,
   limits, quota, format inspection).
5. **finish**: the image's new state and the task's end in one transaction.

Any failure removes what this attempt wrote (stores and staging) and puts the
image back to ``queued`` (copy-image: the image stays ``active`` and the store
is listed in ``os_glance_failed_import``), with the reason in the task's
message. A run that was interrupted (its server died) starts again from the
top, at most ``[task] max_attempts`` times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import anyio

from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus
from spyglass.domain.states import transition
from spyglass.domain.tasks import Task, TaskStatus, move
from spyglass.errors import ConcurrentUpdate, Duplicate, ImageNotFound, SpyglassError
from spyglass.imports.job import ROLES_KEY, ImportJob
from spyglass.imports.plugins.base import ImportFailed, ImportPlugin, PluginJob
from spyglass.imports.sources import RemoteGlance, Source, existing_data
from spyglass.imports.staging import StagingArea
from spyglass.imports.verify import Verifier
from spyglass.imports.web import WebDownload
from spyglass.services.tasks_ports import Claim, TaskRepository
from spyglass.services.upload import Ingested, UploadService

log = logging.getLogger(__name__)

LOCK = "os_glance_import_task"
IMPORTING = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"
STAGE_HOST = "os_glance_stage_host"
_SAVE_ATTEMPTS = 20


@dataclass(slots=True)
class Attempt:
    """What one run wrote, to keep on success or remove on failure."""

    job: ImportJob
    original: Image
    """The image as the attempt found it."""
    working: Image
    """Its copy that the steps change (plugins, glance-download's metadata)."""
    written: list[Ingested] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def reason(exc: BaseException) -> str:
    if isinstance(exc, SpyglassError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class ImportFlow:
    def __init__(
        self,
        uploads: UploadService,
        tasks: TaskRepository,
        staging: StagingArea,
        *,
        plugins: Sequence[ImportPlugin] = (),
        verifiers: Sequence[Verifier] = (),
        web: WebDownload,
        remote: RemoteGlance,
        download_properties: Sequence[str] = (),
        multi_store: bool = False,
        ttl_hours: int = 48,
        max_attempts: int = 2,
        clock: Callable[[], datetime],
    ) -> None:
        self.uploads = uploads
        self.images = uploads.images
        self.tasks = tasks
        self.staging = staging
        self.plugins = list(plugins)
        self.verifiers = list(verifiers)
        self.web = web
        self.remote = remote
        self.download_properties = tuple(download_properties)
        self.multi_store = multi_store
        self.ttl_hours = ttl_hours
        self.max_attempts = max_attempts
        self.now = clock

    async def run(self, claim: Claim) -> None:
        task = claim.task
        if task.finished:
            await self.tasks.finish(task)
            return
        if claim.attempts >= self.max_attempts:
            why = claim.last_error or "its server stopped while running it"
            await self._fail(
                task,
                None,
                f"The import was interrupted {claim.attempts} times and is given up (last: {why}).",
            )
            return
        if task.status is TaskStatus.PENDING:
            task = await self.tasks.save(move(task, TaskStatus.PROCESSING, self.now(), 0))
        attempt: Attempt | None = None
        try:
            if task.type == "import" and task.image_id is None:
                task = await self._legacy_image(task)
            job = job_of(task, self.images.stores.default_id)
            image = await self.images.repo.get(job.image_id)
            if image.properties.get(LOCK) != task.id:
                raise ImportFailed(f"Image {image.id} is no longer being imported by this task.")
            attempt = Attempt(job, image, image.copy())
            await self._execute(task, attempt)
        except Exception as exc:
            log.info("task %s failed: %s", task.id, reason(exc))
            with anyio.CancelScope(shield=True):
                await self._fail(task, attempt, reason(exc))

    async def _legacy_image(self, task: Task) -> Task:
        """A ``/v2/tasks`` import: its image, made from ``image_properties`` as the task's
        caller (its roles were recorded with the task) and locked."""
        ctx = RequestContext(
            request_id=task.request_id or "",
            project_id=task.owner,
            user_id=task.user_id,
            roles=frozenset(task.input.get(ROLES_KEY) or ()),
        )
        ctx = replace(ctx, is_admin=self.images.access.policy.is_admin(ctx))
        created = await self.images.create(ctx, dict(task.input.get("image_properties") or {}))
        # As stored (MySQL keeps whole seconds), so the compare-and-swap compares like with like.
        image = await self.images.repo.get(created.id)
        locked = transition(image, ImageStatus.IMPORTING)
        locked.properties[LOCK] = task.id
        await self.images.repo.save(locked, expect=image)
        task = task.copy()
        task.image_id = image.id
        return await self.tasks.save(task)

    # -- the steps ----------------------------------------------------------------------

    async def _execute(self, task: Task, attempt: Attempt) -> None:
        job = attempt.job
        if job.method == "copy-image":
            for store_id in job.stores:
                await self._into_store(attempt, store_id, copy=True)
        else:
            await self._acquire(attempt)
            await self._run_plugins(attempt)
            for store_id in job.stores:
                await self._into_store(attempt, store_id, copy=False)
        if not attempt.written:
            raise ImportFailed(f"Image could not be imported into any of {', '.join(job.stores)}.")
        await self._succeed(task, attempt)

    async def _acquire(self, attempt: Attempt) -> None:
        job, image = attempt.job, attempt.working
        if job.method == "glance-direct":
            if not await self.staging.holds(image.id):
                host = image.properties.get(STAGE_HOST)
                where = f" (it was staged on {host})" if host else ""
                raise ImportFailed(
                    f"The staged data of image {image.id} is not on this node{where}."
                )
            return
        await self.staging.clear(image.id)  # what an interrupted run left
        if job.method == "glance-download":
            await self._remote_metadata(attempt)
            assert job.region is not None and job.remote_image_id is not None
            url = self.remote.data_url(job.region, job.remote_image_id)
        else:
            url = job.uri or ""
        async with self.web.open(url) as source:
            await self._stage(image, source)

    async def _stage(self, image: Image, source: Source) -> None:
        await self.uploads.ingest(
            image,
            source.stream,
            store=self.staging.store,
            length_hint=source.size,
            inspect=False,
            verify=False,
            hashes=False,
        )

    async def _remote_metadata(self, attempt: Attempt) -> None:
        job, image = attempt.job, attempt.working
        assert job.region is not None and job.remote_image_id is not None
        remote = await self.remote.metadata(job.region, job.remote_image_id)
        image.disk_format = remote.get("disk_format") or image.disk_format
        image.container_format = remote.get("container_format") or image.container_format
        for key, value in remote.items():
            if isinstance(value, str) and key.startswith(self.download_properties):
                image.properties[key] = value

    async def _run_plugins(self, attempt: Attempt) -> None:
        path = self.staging.path(attempt.working.id)
        for plugin in self.plugins:
            job = PluginJob(attempt.working, path, attempt.job.roles, self.uploads.size_cap)
            await plugin.run(job)
        for verifier in self.verifiers:
            await verifier.verify(attempt.working, path)

    async def _into_store(self, attempt: Attempt, store_id: str, *, copy: bool) -> None:
        try:
            await self.images.stores.writable(store_id)
            attempt.written.append(await self._ingest_once(attempt, store_id, copy=copy))
        except Exception as exc:
            if attempt.job.all_stores_must_succeed:
                raise
            log.warning("import of %s into %s failed: %s", attempt.working.id, store_id, exc)
            attempt.failed.append(store_id)

    async def _ingest_once(self, attempt: Attempt, store_id: str, *, copy: bool) -> Ingested:
        """Into one store; data an interrupted run left under the image's name there is
        removed first (it is no image's: the run never recorded it)."""
        for retry in (False, True):
            try:
                return await self._ingest(attempt, store_id, copy=copy)
            except Duplicate:
                datadir = getattr(self.images.stores.stores[store_id], "datadir", None)
                if retry or datadir is None:
                    raise
                await self.images.delete_data((datadir / attempt.working.id).as_uri(), "")
        raise AssertionError("unreachable")  # pragma: no cover

    async def _ingest(self, attempt: Attempt, store_id: str, *, copy: bool) -> Ingested:
        image, store = attempt.working, self.images.stores.stores[store_id]
        if copy:
            async with existing_data(self.images.stores, image) as source:
                return await self.uploads.ingest(
                    image, source.stream, store=store, size=image.size, quota=False
                )
        read = await self.staging.store.get(self.staging.location(image.id))
        return await self.uploads.ingest(image, read.stream, store=store, size=read.size)

    # -- the end ------------------------------------------------------------------------

    async def _succeed(self, task: Task, attempt: Attempt) -> None:
        job, working = attempt.job, attempt.working
        first = attempt.written[0]
        digests = first.digests
        assert digests is not None
        done = move(task, TaskStatus.SUCCESS, self.now(), self.ttl_hours)
        done.result = {"image_id": working.id}
        done.message = ""

        def apply(current: Image) -> Image:
            image = current.copy()
            if job.method != "copy-image":
                if current.status is not ImageStatus.IMPORTING:
                    raise ImportFailed(f"Image {current.id} is now {current.status}.")
                _take_changes(image, attempt.original, working)
                image = transition(image, ImageStatus.ACTIVE)
                image.size = digests.size
                image.checksum = digests.checksum
                image.os_hash_algo = digests.os_hash_algo
                image.os_hash_value = digests.os_hash_value
                image.virtual_size = first.virtual_size or working.virtual_size
            image.locations = [*image.locations, *(w.location for w in attempt.written)]
            self._unlock(image, job, failed=attempt.failed)
            return image

        events = ("image.upload", "image.activate", "image.update")
        await self._finish(done, apply, events if job.method != "copy-image" else ("image.update",))
        if job.method != "copy-image":
            await self.staging.clear(working.id)

    def _unlock(self, image: Image, job: ImportJob, *, failed: Sequence[str]) -> None:
        image.properties.pop(LOCK, None)
        image.properties.pop(STAGE_HOST, None)
        if not self.multi_store:
            return
        pending = [s for s in image.properties.get(IMPORTING, "").split(",") if s]
        image.properties[IMPORTING] = ",".join(s for s in pending if s not in job.stores)
        earlier = [s for s in image.properties.get(FAILED, "").split(",") if s]
        image.properties[FAILED] = ",".join([*earlier, *(s for s in failed if s not in earlier)])

    async def _fail(self, task: Task, attempt: Attempt | None, message: str) -> None:
        """Remove what this run wrote, restore the image, and end the task with ``message``."""
        job = attempt.job if attempt is not None else _job_or_none(task)
        if attempt is not None:
            for written in attempt.written:
                await self.images.delete_data(written.location.url, job.image_id if job else "")
        if job is not None and job.method != "copy-image":
            await self.staging.clear(job.image_id)
        failed = move(task, TaskStatus.FAILURE, self.now(), self.ttl_hours)
        failed.message = message

        def apply(current: Image) -> Image:
            if current.properties.get(LOCK) != task.id or job is None:
                return current  # someone else's now; leave it
            image = current.copy()
            if job.method != "copy-image" and current.status is ImageStatus.IMPORTING:
                image = transition(image, ImageStatus.QUEUED)
                image.checksum = image.os_hash_algo = image.os_hash_value = None
                image.locations = []
            self._unlock(image, job, failed=job.stores)
            return image

        try:
            await self._finish(failed, apply, ("image.update",))
        except ImageNotFound:
            await self.tasks.finish(failed)

    async def _finish(
        self, task: Task, apply: Callable[[Image], Image], events: Sequence[str]
    ) -> None:
        """End ``task`` and save its image's new state together, re-reading the image if
        anything changed it meanwhile (a PATCH is never lost)."""
        image_id = task.image_id or _job_image(task)
        for _ in range(_SAVE_ATTEMPTS):
            current = await self.images.repo.get(image_id)
            updated = apply(current)
            if updated is current:
                await self.tasks.finish(task)
                return
            try:
                await self.tasks.finish(task, image=updated, expect=current, events=events)
                return
            except ConcurrentUpdate:
                await anyio.sleep(0.01)
        raise ConcurrentUpdate(f"Image {image_id} kept changing; the import could not finish.")


def _take_changes(image: Image, original: Image, working: Image) -> None:
    """What the import's steps changed (formats, properties), onto the image as it is
    now: a property someone else changed meanwhile keeps their value."""
    for name in ("disk_format", "container_format"):
        if getattr(working, name) != getattr(original, name):
            setattr(image, name, getattr(working, name))
    for key, value in working.properties.items():
        if original.properties.get(key) != value:
            image.properties[key] = value


def job_of(task: Task, default_store: str = "") -> ImportJob:
    """The import a task asks for; a legacy ``import`` task is a web-download of its
    ``import_from`` into the default store."""
    if task.type != "import":
        return ImportJob.from_input(task.input)
    return ImportJob(
        image_id=str(task.image_id),
        method="web-download",
        stores=(default_store,),
        all_stores_must_succeed=True,
        uri=str(task.input.get("import_from") or ""),
        region=None,
        remote_image_id=None,
        roles=frozenset(),
    )


def _job_or_none(task: Task) -> ImportJob | None:
    try:
        return job_of(task)
    except (KeyError, TypeError):
        return None


def _job_image(task: Task) -> str:
    job = _job_or_none(task)
    if job is None:
        raise ImageNotFound("The task names no image.")
    return job.image_id
