"""Multi-store use cases: which store an upload goes to, which location a read
tries first, what ``/v2/info/stores`` lists, and deleting an image's data from
one store.

Every part of Spyglass that picks a store (uploads, ``copy-image`` imports,
downloads) asks this module, so ``X-Image-Meta-Store``, ``default_backend`` and
``weight`` mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spyglass.context import RequestContext
from spyglass.domain.image import ImageStatus, Location
from spyglass.errors import BadRequest, ConcurrentUpdate, Conflict, Forbidden, NotFound
from spyglass.services.images import ImageService
from spyglass.stores.base import Capability, Store, WriteResult
from spyglass.stores.registry import StoreSet

_SAVE_ATTEMPTS = 20


def store_id_of(location: Location) -> str | None:
    """The backend id recorded with a location (``metadata.store``), if any."""
    backend = location.metadata.get("store")
    return backend if isinstance(backend, str) else None


def location_store(stores: StoreSet, location: Location) -> str | None:
    """The backend a location is in: the recorded one, or (for locations recorded
    before multi-store, or under a renamed backend) the one serving its URL."""
    return stores.backend_of(location.url, store_id_of(location))


def check_store_id(stores: StoreSet, backend_id: str) -> None:
    """400 for a store id that is not configured, as upstream words it."""
    if backend_id not in stores.stores:
        raise BadRequest(f"Store for identifier {backend_id} not found")


async def upload_target(stores: StoreSet, backend_id: str | None) -> Store:
    """The store new data goes to: ``backend_id`` if given (multi-store only),
    else the default; 400 for an unknown id, 503 for a store that cannot write."""
    if backend_id is not None:
        check_store_id(stores, backend_id)
    return await stores.writable(backend_id)


def new_location(store: Store, written: WriteResult) -> Location:
    """The location of freshly written data, recording the store it went to."""
    return Location(written.location, {**written.metadata, "store": store.backend_id})


def reading_order(stores: StoreSet, locations: Sequence[Location]) -> list[Location]:
    """Locations in the order reads try them: by their store's ``weight``, highest
    first; equal weights keep the image's own order."""
    if not stores.weights:
        return list(locations)

    def weight(location: Location) -> int:
        return -stores.weights.get(location_store(stores, location) or "", 0)

    return sorted(locations, key=weight)


def store_ids(stores: StoreSet, locations: Sequence[Location]) -> list[str]:
    """The stores holding an image's data, for the image's ``stores`` field."""
    found = (location_store(stores, location) for location in locations)
    return [backend for backend in found if backend]


class StoreService:
    """``/v2/info/stores`` and ``DELETE /v2/stores/{store_id}/{image_id}``."""

    def __init__(self, images: ImageService, types: dict[str, str]) -> None:
        self.images = images
        self.stores: StoreSet = images.stores
        self.types = types
        """Backend id -> the type ``enabled_backends`` gives it (shown in the detail)."""

    def _require_multiple(self) -> None:
        if not self.stores.multiple:
            raise NotFound("Multi backend is not supported at this site.")

    def info(self) -> list[dict[str, Any]]:
        """One entry per backend: id, description, whether it is the default, read-only."""
        self._require_multiple()
        listed: list[dict[str, Any]] = []
        for backend_id, store in self.stores.stores.items():
            if backend_id.startswith("os_glance_"):
                continue
            entry: dict[str, Any] = {"id": backend_id}
            description = self.stores.descriptions.get(backend_id)
            if description:
                entry["description"] = description
            if backend_id == self.stores.default_id:
                entry["default"] = "true"
            if not store.capabilities & Capability.WRITE:
                entry["read-only"] = "true"
            listed.append(entry)
        return listed

    def detail(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """The list with each store's type, ``properties`` and ``weight`` (admins only)."""
        listed = self.info()
        if not self.images.access.policy.allowed("stores_info_detail", ctx, {}):
            raise Forbidden("You are not authorized to complete stores_info_detail action.")
        for entry in listed:
            store = self.stores.stores[entry["id"]]
            entry["type"] = self.types.get(entry["id"], store.driver)
            entry["properties"] = dict(store.properties())
            entry["weight"] = self.stores.weights.get(entry["id"], 0)
        return listed

    async def delete_from_store(self, ctx: RequestContext, store_id: str, image_id: str) -> None:
        """Remove one store's copy of an active image that has another copy.

        The data goes first, then the location: killed in between, the image
        keeps a location whose data is gone, which reads skip (as upstream).
        A store refusing to delete (RBD clones) is 409 and changes nothing.
        """
        self._require_multiple()
        if store_id not in self.stores.stores:
            raise Conflict(f"The selected store {store_id} is not available on this node.")
        image = await self.images.get(ctx, image_id)
        access = self.images.access
        access.authorize(ctx, image, "get_image_location")
        access.authorize(ctx, image, "delete_image_location")
        if image.status is not ImageStatus.ACTIVE:
            raise Conflict(
                "It's not allowed to remove image data from store if image status is not 'active'"
            )
        if len(image.locations) == 1:
            raise Forbidden(
                "Cannot delete image data from the only store containing it. Consider "
                "deleting the image instead."
            )
        doomed = next(
            (loc for loc in image.locations if location_store(self.stores, loc) == store_id), None
        )
        if doomed is None:
            raise NotFound(f"Image {image_id} is not stored in store {store_id}.")
        if not await self.images.repo.location_in_use(doomed.url, excluding=image_id):
            await self.stores.delete(doomed.url, store_id)

        await self._forget(ctx, image_id, doomed.url)

    async def _forget(self, ctx: RequestContext, image_id: str, url: str) -> None:
        """Drop the location from the image as it is now (others may be editing it)."""
        for _ in range(_SAVE_ATTEMPTS):
            current = await self.images.get(ctx, image_id)
            updated = current.copy()
            updated.locations = [loc for loc in current.locations if loc.url != url]
            if updated.locations == current.locations:
                return
            try:
                await self.images.repo.save(updated, expect=current, events=("image.update",))
                return
            except ConcurrentUpdate:
                continue
        raise ConcurrentUpdate()
