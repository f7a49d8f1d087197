"""Interoperable import: ``PUT /stage`` and ``POST /import``, as upstream's rules
decide (``glance/api/v2/images.py import_image``).

Staging streams through the upload pipeline into the staging area. An import
request is checked here, then becomes a task that a worker runs
(``imports/flow.py``): the image's new status, its import lock
(``os_glance_import_task``) and the queued task are written in one
transaction, so a task exists exactly when an image is ``importing``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio

from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus
from spyglass.domain.states import transition
from spyglass.domain.tasks import new_task
from spyglass.errors import (
    BadRequest,
    ConcurrentUpdate,
    Conflict,
    ImageNotFound,
    NotFound,
)
from spyglass.imports.flow import FAILED, IMPORTING, LOCK, STAGE_HOST
from spyglass.imports.job import task_input
from spyglass.imports.staging import StagingArea
from spyglass.imports.web import WebDownload
from spyglass.services.ports import ListQuery, SortKey
from spyglass.services.tasks_ports import TaskRepository
from spyglass.services.upload import UploadService
from spyglass.stores.base import Capability
from spyglass.types import ByteStream

log = logging.getLogger(__name__)

METHODS = ("glance-direct", "web-download", "copy-image", "glance-download")


@dataclass(frozen=True, slots=True)
class ProxyTo:
    """The staged data is on another worker: send it the request (upstream does)."""

    url: str


class ImportService:
    def __init__(
        self,
        uploads: UploadService,
        tasks: TaskRepository,
        staging: StagingArea,
        *,
        methods: Sequence[str],
        web: WebDownload,
        multi_store: bool,
        self_url: str | None,
        clock: Callable[[], datetime],
        wake: Callable[[], None] = lambda: None,
        inspect_staged: bool = True,
        own_url: str | None = None,
    ) -> None:
        self.own_url = own_url
        """``worker_self_reference_url`` itself (not ``public_endpoint``, which nodes
        behind a balancer share): only then are the stages recorded with it this node's."""
        self.uploads = uploads
        self.inspect_staged = inspect_staged
        """Judge staged data's format (unless a plugin may change it before the import)."""
        self.images = uploads.images
        self.tasks = tasks
        self.staging = staging
        self.methods = tuple(methods)
        self.web = web
        self.multi_store = multi_store
        self.self_url = self_url
        self.now = clock
        self.wake = wake

    # -- stage ----------------------------------------------------------------------------

    async def stage(
        self,
        ctx: RequestContext,
        image_id: str,
        data: ByteStream,
        *,
        size: int | None,
        length_hint: int | None,
    ) -> None:
        if "glance-direct" not in self.methods:
            raise NotFound("The glance-direct import method is not enabled.")
        image = await self.images.get(ctx, image_id)
        self.images.access.authorize(ctx, image, "modify_image")
        if image.status is not ImageStatus.QUEUED:
            raise Conflict(f"Image {image_id} is not in queued status ({image.status}).")
        if await self.staging.holds(image_id):
            raise Conflict(f"Data for image {image_id} is already staged.")
        uploading = transition(image, ImageStatus.UPLOADING)
        if self.self_url:
            uploading.properties[STAGE_HOST] = self.self_url
        try:
            uploading = await self.images.repo.save(uploading, expect=image)
        except ConcurrentUpdate as exc:
            raise Conflict(str(exc)) from exc
        try:
            got = await self.uploads.ingest(
                uploading,
                data,
                store=self.staging.store,
                size=size,
                length_hint=length_hint,
                inspect=self.inspect_staged and uploading.disk_format is not None,
                hashes=False,
                verify=False,  # signatures are checked on what the import stores
            )
            uploading.size = got.size
            await self.images.repo.save_data(uploading, expect_status=ImageStatus.UPLOADING)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.staging.clear(image_id)
                await self._unstage(uploading)
            raise

    async def _unstage(self, image: Image) -> None:
        try:
            await self.images.repo.save_data(
                transition(image, ImageStatus.QUEUED), expect_status=ImageStatus.UPLOADING
            )
        except (ImageNotFound, Conflict):
            log.info("image %s changed during a failed stage; not restoring queued", image.id)

    async def recover_stages(self, stale_after: float) -> int:
        """Images this node left ``uploading`` because its server died while staging
        them (no staged file, no partial file written to for ``stale_after`` seconds)
        go back to ``queued``, so they can be staged again. Only images staged here
        (``os_glance_stage_host`` is this node's ``worker_self_reference_url``) are
        looked at: another node's stage cannot be judged from here."""
        if not self.own_url:
            return 0
        found: list[Image] = []
        for hidden in (False, True):
            query = ListQuery(
                limit=500,
                sort=(SortKey("created_at", False),),
                exact={"status": ("uploading",)},
                properties={STAGE_HOST: self.own_url},
                visibility="all",
                os_hidden=hidden,
            )
            found.extend(await self.images.repo.list(query))
        recovered = 0
        for image in found:
            if image.size is not None or await self.staging.holds(image.id):
                continue  # staged whole: waiting for its import
            if await self.staging.being_written(image.id, stale_after):
                continue
            await self.staging.clear(image.id)
            await self._unstage(image)
            recovered += 1
        return recovered

    async def discard_orphans(self) -> int:
        """Staged data no import will read: its image was deleted on another node (the
        delete clears only the staging area of the node that ran it) or is no longer
        ``uploading`` or ``importing``."""
        removed = 0
        for image_id in await self.staging.staged():
            try:
                status = (await self.images.repo.get(image_id)).status
            except ImageNotFound:
                status = None
            if status not in (ImageStatus.UPLOADING, ImageStatus.IMPORTING):
                await self.staging.clear(image_id)
                removed += 1
        return removed

    # -- import ---------------------------------------------------------------------------

    async def import_image(
        self, ctx: RequestContext, image_id: str, body: Any, *, header_store: str | None
    ) -> ProxyTo | None:
        method = _check_body(body, self.methods)
        image = await self.images.get(ctx, image_id)
        _check_status(image, method)
        if method == "glance-download":
            _check_remote(body["method"])
        if method == "copy-image":
            self.images.access.authorize(ctx, image, "copy_image")
        else:
            self.images.access.authorize(ctx, image, "modify_image")
        if LOCK in image.properties:
            await self._check_lock(image)
        stores = self._stores(body, header_store, image, method)
        if not stores:
            return None  # copy-image: every store has it already
        if not body.get("all_stores_must_succeed", True) and not self.multi_store:
            raise BadRequest("All_stores_must_succeed can only be set with enabled_backends")
        host = image.properties.get(STAGE_HOST)
        if method == "glance-direct" and host and self.self_url and host != self.self_url:
            return ProxyTo(host)
        if method == "glance-direct" and not await self.staging.holds(image.id):
            where = f" on {host}" if host else ""
            raise Conflict(
                f"The staged data of image {image.id} is not on this server (it was staged"
                f"{where}); set worker_self_reference_url on every worker so imports reach it."
            )
        if method == "web-download":
            self.web.check(str(body["method"].get("uri") or ""))
        await self._begin(ctx, image, body, method, stores)
        return None

    async def _check_lock(self, image: Image) -> None:
        try:
            holder = await self.tasks.get(image.properties[LOCK])
        except NotFound:
            return  # a lock without its task: stale
        if not holder.finished:
            raise Conflict(
                f"New operation on image '{image.id}' is not permitted as prior operation "
                "is still in progress"
            )

    def _stores(
        self, body: dict[str, Any], header: str | None, image: Image, method: str
    ) -> list[str]:
        all_stores = body.get("all_stores", False)
        requested = body.get("stores")
        stores = self.images.stores
        if not self.multi_store:
            chosen = [stores.default_id]
        else:
            if all_stores and (requested is not None or header):
                raise BadRequest("All_stores parameter can't be used with x-image-meta-store "
                                 "header or stores parameter")  # fmt: skip
            if requested is not None and header:
                raise BadRequest("Stores parameter and x-image-meta-store header can't be "
                                 "both specified")  # fmt: skip
            if requested is not None and not (
                isinstance(requested, list) and all(isinstance(s, str) for s in requested)
            ):
                raise BadRequest("stores must be a list of store identifiers.")
            if all_stores:
                chosen = [
                    sid
                    for sid, store in stores.stores.items()
                    if Capability.WRITE in store.capabilities
                    and sid not in stores.read_only
                    and not sid.startswith("os_glance_")
                ]
            else:
                chosen = list(requested or [header or stores.default_id])
            for sid in chosen:
                if sid not in stores.stores:
                    raise Conflict(f"Unknown scheme '{sid}' found in URI")
        if method == "copy-image":
            present = [str(loc.metadata.get("store")) for loc in image.locations]
            if all_stores:
                return [s for s in chosen if s not in present]
            for sid in chosen:
                if sid in present:
                    raise BadRequest(f"Image is already present at store '{sid}'")
        return chosen

    async def _begin(
        self,
        ctx: RequestContext,
        image: Image,
        body: dict[str, Any],
        method: str,
        stores: list[str],
    ) -> None:
        task = new_task(
            "api_image_import",
            owner=ctx.project_id,
            now=self.now(),
            input=task_input(image.id, body, stores, ctx.roles),
            image_id=image.id,
            request_id=ctx.request_id,
            user_id=ctx.user_id,
        )
        updated = image if method == "copy-image" else transition(image, ImageStatus.IMPORTING)
        updated = updated.copy()
        updated.properties[LOCK] = task.id
        if self.multi_store:
            pending = [s for s in updated.properties.get(IMPORTING, "").split(",") if s]
            updated.properties[IMPORTING] = ",".join(
                [*pending, *(s for s in stores if s not in pending)]
            )
            failed = [s for s in updated.properties.get(FAILED, "").split(",") if s]
            updated.properties[FAILED] = ",".join(s for s in failed if s not in stores)
        node = self.self_url if method == "glance-direct" else None
        try:
            await self.tasks.begin(
                task, updated, expect=image, events=("image.update", "image.prepare"), node=node
            )
        except ConcurrentUpdate as exc:
            raise Conflict(
                f"New operation on image '{image.id}' is not permitted as prior operation "
                "is still in progress"
            ) from exc
        self.wake()


def _check_body(body: Any, enabled: Sequence[str]) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
        raise BadRequest("Import request requires a 'method' field.")
    name = body["method"].get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest("Import request requires a 'name' field.")
    if name not in enabled:
        raise BadRequest(f"Import method {name} is not valid.")
    for key in ("all_stores", "all_stores_must_succeed"):
        if key in body and not isinstance(body[key], bool):
            raise BadRequest(f"{key} must be a boolean.")
    if name == "web-download" and not isinstance(body["method"].get("uri"), str):
        raise BadRequest("URI for web-download is required.")
    return name


def _check_status(image: Image, method: str) -> None:
    if image.status is ImageStatus.ACTIVE and method != "copy-image":
        raise Conflict("Image with status active cannot be target for import")
    if image.status is not ImageStatus.ACTIVE and method == "copy-image":
        raise Conflict("Only images with status active can be targeted for copying")
    if image.status is not ImageStatus.QUEUED and method in ("web-download", "glance-download"):
        raise Conflict(f"Image needs to be in 'queued' state to use '{method}' method")
    if image.status is not ImageStatus.UPLOADING and method == "glance-direct":
        raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
    if not image.container_format:
        raise Conflict("'container_format' needs to be set before import")
    if not image.disk_format:
        raise Conflict("'disk_format' needs to be set before import")


def _check_remote(method: dict[str, Any]) -> None:
    for key in ("glance_region", "glance_image_id"):
        if key not in method:
            raise BadRequest(f"'{key}' needs to be set for glance-download import method")
    try:
        uuid.UUID(str(method["glance_image_id"]))
    except ValueError:
        raise BadRequest(
            f"Remote image id does not look like a UUID: {method['glance_image_id']}"
        ) from None
    method.setdefault("glance_service_interface", "public")
