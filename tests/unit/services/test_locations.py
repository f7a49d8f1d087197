"""Location edits against a fake read-only HTTP store (unit level)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import pytest

from spyglass.context import RequestContext
from spyglass.domain.image import Image, ImageStatus, Location
from spyglass.domain.patch import Change, PatchOp
from spyglass.domain.policy import Policy
from spyglass.errors import BadRequest, Conflict, Forbidden, NotFound, TooLarge
from spyglass.services.access import Access
from spyglass.services.locations import LocationEditor, LocationEdits
from spyglass.stores.base import ByteRange, Capability, ReadResult, Store, WriteResult
from spyglass.stores.registry import StoreSet
from spyglass.types import ByteStream

ADMIN = RequestContext("r", roles=frozenset({"admin"}), is_admin=True)


class FakeHttpStore(Store):
    driver: ClassVar[str] = "http"
    schemes: ClassVar[tuple[str, ...]] = ("http", "https")
    sizes: ClassVar[Mapping[str, int]] = {"http://a/1": 10, "http://a/2": 10, "http://a/0": 0}

    @property
    def capabilities(self) -> Capability:
        return Capability.READ

    async def add(self, image_id: str, data: ByteStream, *, size: int | None) -> WriteResult:
        raise NotImplementedError

    async def get(self, location: str, *, byte_range: ByteRange | None = None) -> ReadResult:
        raise NotImplementedError

    async def get_size(self, location: str) -> int:
        if location not in self.sizes:
            raise NotFound("no such object")
        return self.sizes[location]

    async def delete(self, location: str) -> None:
        raise NotImplementedError


class NoMembers:
    async def find(self, image_id: str, member_id: str) -> None:
        return None


def _editor(quota: int = 10) -> LocationEditor:
    stores = StoreSet({"http": FakeHttpStore("http")}, "http")
    access = Access(Policy(), NoMembers())  # type: ignore[arg-type]
    return LocationEditor(stores, access, enabled=True, quota=quota)


def _image(status: ImageStatus, *urls: str) -> Image:
    now = datetime(2026, 1, 1)
    return Image(id="i", created_at=now, updated_at=now, status=status, disk_format="raw",
                 container_format="bare", locations=[Location(u, {}) for u in urls])  # fmt: skip


def _change(op: PatchOp, *path: str, value: Any = None) -> Change:
    return Change(op, ("locations", *path), value)


async def test_adding_to_a_queued_image_activates_it() -> None:
    image = _image(ImageStatus.QUEUED)
    await _editor().apply(ADMIN, image, _change(PatchOp.ADD, "-", value={"url": "http://a/1"}),
                          LocationEdits())  # fmt: skip
    assert image.status is ImageStatus.ACTIVE
    assert image.size == 10
    assert image.locations == [Location("http://a/1", {})]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"url": "http://a/missing"}, BadRequest),
        ({"url": "http://a/0"}, BadRequest),
        ({"url": "file:///etc/passwd"}, BadRequest),
        ({"url": "http://a/1"}, BadRequest),  # already there
        ({"url": 5}, BadRequest),
        ({"url": "http://a/2", "metadata": []}, BadRequest),
    ],
)
async def test_bad_additions(value: Any, error: type[Exception]) -> None:
    image = _image(ImageStatus.ACTIVE, "http://a/1")
    with pytest.raises(error):
        await _editor().apply(ADMIN, image, _change(PatchOp.ADD, "-", value=value),
                              LocationEdits())  # fmt: skip
    assert image.locations == [Location("http://a/1", {})]


async def test_quota_and_status() -> None:
    with pytest.raises(TooLarge):
        await _editor(quota=1).apply(ADMIN, _image(ImageStatus.ACTIVE, "http://a/1"),
                                     _change(PatchOp.ADD, "-", value={"url": "http://a/2"}),
                                     LocationEdits())  # fmt: skip
    with pytest.raises(Conflict):
        await _editor().apply(ADMIN, _image(ImageStatus.KILLED),
                              _change(PatchOp.ADD, "-", value={"url": "http://a/2"}),
                              LocationEdits())  # fmt: skip


async def test_removal_is_recorded_for_after_the_save() -> None:
    image = _image(ImageStatus.ACTIVE, "http://a/1", "http://a/2")
    edits = LocationEdits()
    await _editor().apply(ADMIN, image, _change(PatchOp.REMOVE, "0"), edits)
    assert edits.removed == ["http://a/1"]
    assert [loc.url for loc in image.locations] == ["http://a/2"]
    with pytest.raises(Forbidden):
        await _editor().apply(ADMIN, image, _change(PatchOp.REMOVE, "-"), edits)
    with pytest.raises(BadRequest):
        await _editor().apply(ADMIN, _image(ImageStatus.ACTIVE, "http://a/1", "http://a/2"),
                              _change(PatchOp.REMOVE, "5"), edits)  # fmt: skip


async def test_replacing_a_queued_images_locations_validates_and_activates() -> None:
    image = _image(ImageStatus.QUEUED)
    value = [{"url": "http://a/1"}, {"url": "http://a/2", "metadata": {"k": "v"}}]
    await _editor().apply(ADMIN, image, _change(PatchOp.REPLACE, value=value), LocationEdits())
    assert (image.status, image.size) == (ImageStatus.ACTIVE, 10)
    assert [loc.url for loc in image.locations] == ["http://a/1", "http://a/2"]


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "FILE:///etc/passwd", " http://a/1", "HTTP://a/1", "http://a/0",
     "http://a/missing", "gopher://a/1", "http://a/\t1"],
)  # fmt: skip
async def test_replace_on_a_queued_image_refuses_what_add_refuses(url: str) -> None:
    image = _image(ImageStatus.QUEUED)
    with pytest.raises(BadRequest):
        await _editor().apply(ADMIN, image, _change(PatchOp.REPLACE, value=[{"url": url}]),
                              LocationEdits())  # fmt: skip
    assert (image.status, image.locations) == (ImageStatus.QUEUED, [])


async def test_locations_must_agree_on_size() -> None:
    image = _image(ImageStatus.ACTIVE, "http://a/1")
    image.size = 11
    with pytest.raises(Conflict):
        await _editor().apply(ADMIN, image, _change(PatchOp.ADD, "-", value={"url": "http://a/2"}),
                              LocationEdits())  # fmt: skip
    assert [loc.url for loc in image.locations] == ["http://a/1"]
