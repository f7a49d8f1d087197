"""Location changes, by any path: PATCH (``show_multiple_locations``) and the
``/v2/images/{id}/locations`` API.

Every URL an image did not already have passes ``LocationRules.check``, one
validation for all paths: a canonical URL, a scheme users may name and a
configured store serves, nothing inside a store's own data area that belongs
to another image, and data there whose size agrees with the image. Removing a
location deletes its data, which happens only after the image is saved, so a
refused PATCH deletes nothing; and data another image still refers to is never
deleted (``ImageService.delete_data``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus, Location
from spyglass.domain.patch import Change, PatchOp
from spyglass.domain.states import transition
from spyglass.errors import BadRequest, BadStoreUri, Conflict, Forbidden, NotFound, TooLarge
from spyglass.services.access import Access
from spyglass.services.validation_data import ValidationData
from spyglass.stores.location import RESTRICTED_SCHEMES, is_canonical, scheme_of
from spyglass.stores.registry import StoreSet

_EDITABLE = (ImageStatus.QUEUED, ImageStatus.ACTIVE)


@dataclass
class LocationEdits:
    """What a PATCH did to locations: data to delete once the image is saved."""

    removed: list[str] = field(default_factory=list)


class LocationRules:
    """The one check a new location passes, whoever adds it and however."""

    def __init__(self, stores: StoreSet) -> None:
        self.stores = stores

    async def check(self, image: Image, url: str) -> int:
        """The size of the data at ``url``, if ``image`` may point there; else 400."""
        if not is_canonical(url):
            raise BadRequest("Invalid location: the URL has spaces, control or non-ASCII bytes.")
        if scheme_of(url) in RESTRICTED_SCHEMES:
            raise BadRequest("Invalid location: local and configured-account URLs are refused.")
        for store in self.stores.stores.values():
            owner = store.image_of(url)
            if owner is not None and owner != image.id:
                raise BadRequest("Invalid location: it names another image's data.")
        try:
            size = await self.stores.for_location(url).get_size(url)
        except (BadStoreUri, NotFound) as exc:
            raise BadRequest(f"Invalid location: {exc}") from exc
        if size <= 0:
            raise BadRequest("Invalid location: the store reports no data there.")
        return size

    async def validate(self, image: Image, url: str, raw: Any) -> None:
        """Check a location's ``validation_data`` against its data; the image takes the
        hashes (``services/validation_data.py`` says why they are read, not trusted)."""
        validation = ValidationData.parse(raw)
        if validation is None:
            return
        validation.check_against(image)
        if image.status is not ImageStatus.QUEUED and not image.os_hash_value:
            raise Conflict(
                "New value(s) for checksum, os_hash_algo, os_hash_value may only be provided "
                "when image status is 'queued'"
            )
        ValidationData.apply(image, await validation.verify(self.stores, url))


class LocationEditor:
    """PATCH operations on ``/locations``, with upstream's status and policy rules."""

    def __init__(self, stores: StoreSet, access: Access, *, enabled: bool, quota: int) -> None:
        self.rules = LocationRules(stores)
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
            await self._replace(image, change.value)
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

    async def _replace(self, image: Image, value: Any) -> None:
        new = [_location(item) for item in _list(value)]
        if not new:
            raise Forbidden("Cannot replace the locations with an empty list.")
        if len({loc.url for loc in new}) != len(new):
            raise BadRequest("The same location is given twice.")
        self._check_quota(len(new))
        if image.locations:
            if [loc.url for loc in new] != [loc.url for loc in image.locations]:
                raise BadRequest("Only the metadata of existing locations may be replaced.")
            image.locations = new
            return
        sizes = {await self.rules.check(image, loc.url) for loc in new}
        for item, loc in zip(_list(value), new, strict=True):
            await self.rules.validate(image, loc.url, item.get("validation_data"))
        _gain_locations(image, new, sizes)

    async def _add(self, image: Image, change: Change) -> None:
        location = _location(change.value)
        index = _index(change.path[1], len(image.locations), inserting=True)
        if location in image.locations:
            raise BadRequest("The location is already present.")
        self._check_quota(len(image.locations) + 1)
        size = await self.rules.check(image, location.url)
        await self.rules.validate(image, location.url, change.value.get("validation_data"))
        locations = list(image.locations)
        locations.insert(index, location)
        _gain_locations(image, locations, {size})

    def _check_quota(self, count: int) -> None:
        if self.quota >= 0 and count > self.quota:
            raise TooLarge(f"Maximum number of locations ({self.quota}) reached.")


def _gain_locations(image: Image, locations: list[Location], sizes: set[int]) -> None:
    """Give ``image`` new locations whose data has ``sizes``; a queued image becomes active.

    Locations of one image hold the same bytes: sizes that disagree with each
    other or with the image's own size are refused.
    """
    known = sizes | ({image.size} if image.size is not None else set())
    if len(known) > 1:
        raise Conflict("The data at the given locations differs in size from the image's.")
    if image.status is ImageStatus.QUEUED:
        active = transition(image, ImageStatus.ACTIVE)
        image.status, image.size = active.status, known.pop()
    image.locations = locations


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
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(f"Invalid location index {raw!r}.")
    index = int(raw)
    if index > length or (not inserting and index >= length):
        raise BadRequest(f"Location index {index} is out of range.")
    return index
