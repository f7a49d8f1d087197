"""Image metadata use cases: create, show, list, update (PATCH), delete, tags."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import anyio

from spyglass.context import RequestContext
from spyglass.domain import properties as props
from spyglass.domain.image import Image, ImageStatus, Location, Visibility
from spyglass.domain.patch import Change, PatchOp
from spyglass.domain.protections import PropertyAction, PropertyProtections
from spyglass.domain.schemas import image_schema
from spyglass.domain.states import transition
from spyglass.domain.validation import SchemaValidator
from spyglass.errors import (
    BadRequest,
    ConcurrentUpdate,
    Conflict,
    Forbidden,
    InUse,
    NotFound,
    TooLarge,
)
from spyglass.services.access import Access
from spyglass.services.locations import LocationEditor, LocationEdits
from spyglass.services.ports import EventLog, ImageRepository, ListQuery, NoEvents
from spyglass.stores.location import scheme_of
from spyglass.stores.registry import StoreSet

log = logging.getLogger(__name__)

_SAVE_ATTEMPTS = 50
"""Enough for dozens of concurrent changes to one image: each round one of them wins."""
T = TypeVar("T")
_FORMAT_FIELDS = frozenset({"disk_format", "container_format"})


class ImageService:
    """The metadata side of images; bytes are in ``UploadService``/``DownloadService``."""

    def __init__(
        self,
        repo: ImageRepository,
        stores: StoreSet,
        access: Access,
        *,
        disk_formats: Sequence[str],
        container_formats: Sequence[str],
        property_quota: int,
        tag_quota: int,
        clock: Any,
        delayed_delete: bool = False,
        protections: PropertyProtections | None = None,
        show_locations: bool = False,
        location_quota: int = 10,
        events: EventLog | None = None,
    ) -> None:
        self.repo = repo
        self.events: EventLog = events or NoEvents()
        self.stores = stores
        self.access = access
        self.validator = SchemaValidator(image_schema(disk_formats, container_formats))
        self.property_quota = property_quota
        self.tag_quota = tag_quota
        self.now = clock
        self.delayed_delete = delayed_delete
        self.protections = protections
        self.locations = LocationEditor(
            stores, access, enabled=show_locations, quota=location_quota
        )
        self.after_delete: list[Callable[[str], Awaitable[object]]] = []
        """Called with the id of every deleted image (the image cache evicts it)."""

    # -- create / read -------------------------------------------------------------------

    async def create(self, ctx: RequestContext, body: Any) -> Image:
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object.")
        for key in body:
            props.check_not_read_only(key, creating=True)
        self.validator.validate(body)
        for key in body:
            props.check_not_reserved(key)
            props.check_key_length(key)
        for key in ("min_disk", "min_ram"):
            if key in body:
                _check_int32(key, body[key])
        body = {k: v for k, v in body.items() if k != "os_hash_algo"}
        owner = body.get("owner", ctx.project_id)
        visibility = Visibility(body.get("visibility", Visibility.SHARED))
        now = self.now()
        base = {k: v for k, v in body.items() if k in props.BASE_PROPERTIES}
        image = Image(
            id=base.pop("id", None) or str(uuid.uuid4()),
            created_at=now,
            updated_at=now,
            owner=owner,
            visibility=visibility,
            tags=set(base.pop("tags", [])),
            properties={k: v for k, v in body.items() if k not in props.BASE_PROPERTIES},
            **{k: v for k, v in base.items() if k not in ("owner", "visibility")},
        )
        target = {"owner": owner, "project_id": owner, "visibility": visibility.value}
        if not self.access.policy.allowed("add_image", ctx, target):
            if owner != ctx.project_id:
                raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
            raise Forbidden("You are not authorized to create images.")
        self.access.check_visibility(ctx, image, visibility)
        for name in image.properties:
            self._check_protection(ctx, name, PropertyAction.CREATE)
        self._check_quotas(image)
        return await self.repo.add(image, events=("image.create",))

    async def get(self, ctx: RequestContext, image_id: str) -> Image:
        """The image, if the caller may see it; otherwise 404 as if it did not exist."""
        image = await self.repo.get(image_id)
        await self.access.check_visible(ctx, image)
        return image

    async def list(
        self, ctx: RequestContext, query: ListQuery
    ) -> tuple[Sequence[Image], str | None]:
        """One page, filtered by ``get_image``, and the marker of the next page if any.

        A next page exists whenever the database filled this one, even if policy
        then hid some of its images (upstream's rule).
        """
        if not self.access.policy.allowed("get_images", ctx, {"project_id": ctx.project_id}):
            raise Forbidden("You are not authorized to list images.")
        images = await self.repo.list(query)
        shown = [i for i in images if self.access.allowed(ctx, i, "get_image")]
        next_marker = images[-1].id if images and len(images) == query.limit else None
        return shown, next_marker

    # -- update ---------------------------------------------------------------------------

    async def _modify(
        self,
        ctx: RequestContext,
        image_id: str,
        mutate: Callable[[Image], Awaitable[T]],
        action: str = "modify_image",
    ) -> tuple[Image, T]:
        """Load, authorize, change a copy, check quotas and save it atomically.

        The save compares-and-swaps on the whole image as read: if any other
        request changed it meanwhile, the change is worked out again on the
        fresh image (and authorized again), so no request's change is lost.
        """
        for attempt in range(_SAVE_ATTEMPTS):
            current = await self.get(ctx, image_id)
            self.access.authorize(ctx, current, action)
            updated = current.copy()
            result = await mutate(updated)
            if updated.properties != current.properties or updated.tags != current.tags:
                self._check_quotas(updated)
            try:
                saved = await self.repo.save(updated, expect=current, events=("image.update",))
                return saved, result
            except ConcurrentUpdate:
                if attempt == _SAVE_ATTEMPTS - 1:
                    raise
                await anyio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")  # pragma: no cover

    async def update(self, ctx: RequestContext, image_id: str, changes: Sequence[Change]) -> Image:
        """Apply every change to a copy and validate the result; nothing is saved on error.

        Data of removed locations is deleted only after the save.
        """

        async def apply_all(image: Image) -> LocationEdits:
            edits = LocationEdits()
            for change in changes:
                if change.name == "locations":
                    await self.locations.apply(ctx, image, change, edits)
                else:
                    self._apply(ctx, image, change)
            self.validator.validate(_as_document(image))
            return edits

        saved, edits = await self._modify(ctx, image_id, apply_all)
        for url in edits.removed:
            await self.delete_data(url, image_id)
        return saved

    def _apply(self, ctx: RequestContext, image: Image, change: Change) -> None:
        name = change.name
        props.check_not_read_only(name, creating=False)
        props.check_not_reserved(name)
        props.check_key_length(name)
        if name in props.BASE_PROPERTIES:
            self._apply_base(ctx, image, change)
        else:
            self._check_protection(ctx, name, _protection_action(image, change))
            _apply_extra(image, change)

    def _apply_base(self, ctx: RequestContext, image: Image, change: Change) -> None:
        name = change.name
        if change.op is PatchOp.REMOVE:
            raise Forbidden(f"Properties {name} may not be removed.")
        if change.op is PatchOp.ADD and change.legacy:
            raise Conflict(f"Property {name} already present.")
        self.validator.validate_property(name, change.value)
        if name in ("min_disk", "min_ram"):
            _check_int32(name, change.value)
        if name == "owner" and not ctx.is_admin:
            raise Forbidden("Owner can't be updated by non admin.")
        if name in _FORMAT_FIELDS and image.status not in (
            ImageStatus.QUEUED,
            ImageStatus.IMPORTING,
        ):
            raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
        if name == "visibility":
            visibility = Visibility(change.value)
            if visibility != image.visibility:
                self.access.check_visibility(ctx, image, visibility)
            image.visibility = visibility
        elif name == "tags":
            image.tags = set(change.value)
        else:
            setattr(image, name, change.value)

    def _check_protection(self, ctx: RequestContext, name: str, action: PropertyAction) -> None:
        if self.protections is not None and not self.protections.allows(name, action, ctx):
            raise Forbidden(f"Property '{name}' is protected: {action.value} is not allowed.")

    def readable(self, ctx: RequestContext, image: Image, *, with_locations: bool) -> Image:
        """The image as this caller may read it: protected properties left out,
        and, where locations are shown at all, none unless ``get_image_location``
        allows (as upstream: an empty list, and no ``direct_url``)."""
        hide = (
            with_locations
            and bool(image.locations)
            and not self.access.allowed(ctx, image, "get_image_location")
        )
        if self.protections is None and not hide:
            return image
        shown = image.copy()
        if self.protections is not None:
            shown.properties = {
                k: v
                for k, v in image.properties.items()
                if self.protections.allows(k, PropertyAction.READ, ctx)
            }
        if hide:
            shown.locations = []
        return shown

    def _check_quotas(self, image: Image) -> None:
        if self.property_quota >= 0 and len(image.properties) > self.property_quota:
            raise TooLarge(
                f"Attempted: {len(image.properties)}, Maximum: {self.property_quota}: "
                "the image property quota is exceeded."
            )
        if self.tag_quota >= 0 and len(image.tags) > self.tag_quota:
            raise TooLarge(
                f"Attempted: {len(image.tags)}, Maximum: {self.tag_quota}: "
                "the image tag quota is exceeded."
            )

    # -- tags -----------------------------------------------------------------------------

    async def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        if len(tag) > 255:
            raise BadRequest("Tag is too long: maximum length is 255 characters.")
        await self._change_tags(ctx, image_id, add=tag)

    async def delete_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        await self._change_tags(ctx, image_id, remove=tag)

    async def _change_tags(
        self,
        ctx: RequestContext,
        image_id: str,
        *,
        add: str | None = None,
        remove: str | None = None,
    ) -> None:
        async def change(image: Image) -> None:
            if add is not None:
                image.tags.add(add)
            if remove is not None:
                if remove not in image.tags:
                    raise NotFound(f"Tag {remove} not found on image {image_id}.")
                image.tags.discard(remove)

        await self._modify(ctx, image_id, change)

    # -- the location API (v2.17) ---------------------------------------------------------

    async def get_locations(self, ctx: RequestContext, image_id: str) -> Sequence[Location]:
        image = await self.get(ctx, image_id)
        self.access.authorize(ctx, image, "fetch_image_location")
        return image.locations

    async def add_location(self, ctx: RequestContext, image_id: str, body: Any) -> None:
        """Point a queued image at data that already exists in a configured store."""
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise BadRequest("Request body must be an object with a 'url' string.")

        async def locate(image: Image) -> None:
            if image.status is not ImageStatus.QUEUED:
                raise Conflict(f"Locations can only be added to queued images, not {image.status}.")
            is_service = self.access.policy.allowed("service_api", ctx, {})
            if not is_service and not (scheme_of(url) in ("http", "https") and self._has_http()):
                raise Forbidden("Only http(s) locations served by an http store may be added.")
            size = await self.locations.rules.check(image, url)
            await self.locations.rules.validate(image, url, body.get("validation_data"))
            image.locations, image.size = [Location(url, {})], size
            image.status = transition(image, ImageStatus.ACTIVE).status

        await self._modify(ctx, image_id, locate, action="add_image_location")

    def _has_http(self) -> bool:
        return any("http" in store.schemes for store in self.stores.stores.values())

    # -- deactivate / reactivate ---------------------------------------------------------

    async def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        """Hide an active image's data from non-admins; repeating it is harmless."""
        await self._toggle(ctx, image_id, "deactivate", ImageStatus.DEACTIVATED)

    async def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        await self._toggle(ctx, image_id, "reactivate", ImageStatus.ACTIVE)

    async def _toggle(
        self, ctx: RequestContext, image_id: str, action: str, target: ImageStatus
    ) -> None:
        image = await self.get(ctx, image_id)
        self.access.authorize(ctx, image, action)
        if image.status is target:
            return

        async def toggle(current: Image) -> None:
            if current.status not in (ImageStatus.ACTIVE, ImageStatus.DEACTIVATED):
                raise Forbidden(f"Not allowed to {action} image in status '{current.status}'")
            current.status = transition(current, target).status

        await self._modify(ctx, image_id, toggle, action=action)

    # -- delete ---------------------------------------------------------------------------

    async def delete(self, ctx: RequestContext, image_id: str) -> Image:
        image = await self.get(ctx, image_id)
        self.access.authorize(ctx, image, "delete_image")
        if image.protected:
            raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
        keep_data = self.delayed_delete and bool(image.locations)
        if not keep_data:
            for location in image.locations:
                await refuse_if_in_use(self.stores, self.repo, location.url, image_id)
        removed = await self.repo.remove(image, keep_data=keep_data, events=("image.delete",))
        if not keep_data:
            for location in image.locations:
                await self.delete_data(location.url, image_id)
        for hook in self.after_delete:
            try:
                await hook(image_id)
            except Exception:
                log.exception("image %s: an after-delete hook failed", image_id)
        return removed

    async def delete_data(self, url: str, image_id: str) -> None:
        """Remove the bytes at one of ``image_id``'s former locations, unless another
        image still refers to them; never fails, for callers that must go on."""
        await delete_unreferenced(self.stores, self.repo, url, image_id)


class LocationReferences(Protocol):
    async def location_in_use(self, url: str, *, excluding: str) -> bool: ...


async def refuse_if_in_use(
    stores: StoreSet, references: LocationReferences, url: str, image_id: str
) -> None:
    """``InUse`` (409) when a store would refuse to delete the data, as upstream's
    delete is refused while RBD clones exist; the image is then left as it is."""
    try:
        if await references.location_in_use(url, excluding=image_id):
            return
        await stores.for_location(url).check_deletable(url)
    except InUse as exc:
        raise InUse(
            f"Image {image_id} could not be deleted because it is in use: {exc.message}"
        ) from None
    except Exception:
        log.warning("image %s: could not ask the store whether its data is in use", image_id)


async def delete_unreferenced(
    stores: StoreSet, references: LocationReferences, url: str, image_id: str
) -> None:
    """The one way image data is deleted: only when no other image refers to it.

    Never raises: a failure is logged and the data left behind.
    """
    try:
        if await references.location_in_use(url, excluding=image_id):
            log.warning("image %s: data still used by another image; not deleted", image_id)
            return
        await stores.delete(url)
    except Exception:
        log.exception("image %s: failed to delete image data; it is left behind", image_id)


def _protection_action(image: Image, change: Change) -> PropertyAction:
    if change.op is PatchOp.REMOVE:
        return PropertyAction.DELETE
    return PropertyAction.UPDATE if change.name in image.properties else PropertyAction.CREATE


def _apply_extra(image: Image, change: Change) -> None:
    name = change.name
    exists = name in image.properties
    if change.op is PatchOp.REMOVE:
        if not exists:
            raise Conflict(f"Property {name} does not exist.")
        del image.properties[name]
        return
    if change.op is PatchOp.REPLACE and not exists:
        raise Conflict(f"Property {name} does not exist.")
    if change.op is PatchOp.ADD and change.legacy and exists:
        raise Conflict(f"Property {name} already present.")
    if not isinstance(change.value, str):
        raise BadRequest(f"Value of property {name} must be a string.")
    image.properties[name] = change.value


def _check_int32(name: str, value: Any) -> None:
    if isinstance(value, int) and value < 0:
        raise BadRequest(
            f"Invalid value '{value}' for parameter '{name}': Cannot be a negative value"
        )
    if isinstance(value, int) and value > props.MAX_INT32:
        raise BadRequest(f"'{name}' value out of range, must not exceed {props.MAX_INT32}.")


def _as_document(image: Image) -> Mapping[str, Any]:
    """The user-settable part of an image, for whole-document schema validation."""
    return {
        "name": image.name,
        "visibility": image.visibility.value,
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "owner": image.owner,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "tags": sorted(image.tags),
        **image.properties,
    }
