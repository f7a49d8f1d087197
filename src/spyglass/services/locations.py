"""Location changes through PATCH (``show_multiple_locations``) and the
``/v2/images/{id}/locations`` API.

Only locations in a configured store are accepted, never local files, and the
store must confirm data is there. Removing a location deletes its data, which
happens only after the image is saved, so a refused PATCH deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus, Location
from spyglass.domain.patch import Change, PatchOp
from spyglass.errors import BadRequest, BadStoreUri, Conflict, Forbidden, NotFound, TooLarge
from spyglass.services.access import Access
from spyglass.stores.location import RESTRICTED_SCHEMES, scheme_of
from spyglass.stores.registry import StoreSet

_EDITABLE = (ImageStatus.QUEUED, ImageStatus.ACTIVE)


@dataclass
class LocationEdits:
    """What a PATCH did to locations: data to delete once the image is saved."""

    removed: list[str] = field(default_factory=list)


class LocationEditor:
    def __init__(self, stores: StoreSet, access: Access, *, enabled: bool, quota: int) -> None:
        self.stores = stores
        self.access = access
        self.enabled = enabled
        self.quota = quota

    async def apply(
        self, ctx: RequestContext, image: Image, change: Change, edits: LocationEdits
    ) -> None:
        if not self.enabled:
            raise Forbidden("It's not allowed to update locations if locations are invisible.")
        if change.op is PatchOp.REMOVE:
            self._remove(ctx, image, change, edits)
            return
        if image.status not in _EDITABLE:
            raise Conflict(f"Cannot change the locations of an image in status {image.status}.")
        self.access.authorize(ctx, image, "set_image_location")
        if change.op is PatchOp.REPLACE:
            self._replace(image, change.value)
        else:
            await self._add(image, change)

    def _remove(
        self, ctx: RequestContext, image: Image, change: Change, edits: LocationEdits
    ) -> None:
        if image.status is not ImageStatus.ACTIVE:
            raise Conflict("Locations can only be removed from active images.")
        self.access.authorize(ctx, image, "delete_image_location")
        index = _index(change.path[1], len(image.locations), inserting=False)
        if len(image.locations) == 1:
            raise Forbidden("Cannot remove the last location of an image.")
        edits.removed.append(image.locations.pop(index).url)

    def _replace(self, image: Image, value: Any) -> None:
        new = [_location(item) for item in _list(value)]
        if not new:
            raise Forbidden("Cannot replace the locations with an empty list.")
        if image.locations and [loc.url for loc in new] != [loc.url for loc in image.locations]:
            raise BadRequest("Only the metadata of existing locations may be replaced.")
        image.locations = new

    async def _add(self, image: Image, change: Change) -> None:
        location = _location(change.value)
        index = _index(change.path[1], len(image.locations), inserting=True)
        if location in image.locations:
            raise BadRequest("The location is already present.")
        if self.quota >= 0 and len(image.locations) >= self.quota:
            raise TooLarge(f"Maximum number of locations ({self.quota}) reached.")
        size = await self.size_at(location.url)
        image.locations.insert(index, location)
        if image.status is ImageStatus.QUEUED:
            image.size = image.size or size
            image.status = ImageStatus.ACTIVE

    async def size_at(self, url: str) -> int:
        """Check a user-given URL: a configured, unrestricted store with data there."""
        if scheme_of(url) in RESTRICTED_SCHEMES:
            raise BadRequest("Invalid location: local and configured-account URLs are refused.")
        try:
            size = await self.stores.for_location(url).get_size(url)
        except (BadStoreUri, NotFound) as exc:
            raise BadRequest(f"Invalid location: {exc}") from exc
        if size <= 0:
            raise BadRequest("Invalid location: the store reports no data there.")
        return size


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest("The locations must be a list.")
    return value


def _location(value: Any) -> Location:
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise BadRequest("A location must be an object with a 'url' string.")
    metadata = value.get("metadata", {})
    if not isinstance(metadata, dict):
        raise BadRequest("A location's metadata must be an object.")
    return Location(value["url"], metadata)


def _index(raw: str, length: int, *, inserting: bool) -> int:
    if raw == "-":
        return length if inserting else length - 1
    if not raw.isdigit():
        raise BadRequest(f"Invalid location index {raw!r}.")
    index = int(raw)
    if index > length or (not inserting and index >= length):
        raise BadRequest(f"Location index {index} is out of range.")
    return index
