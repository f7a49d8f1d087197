"""What the services need from the outside world, as Protocols.

Adapters (the SQL repository, a registry client, stores) implement these;
services depend on nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from spyglass.domain.image import Image, ImageStatus
from spyglass.domain.members import ImageMember
from spyglass.notify.events import Event
from spyglass.stores.base import ByteRange, ReadResult


@dataclass(frozen=True, slots=True)
class SortKey:
    key: str
    descending: bool


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated listing request; the repository turns it into one indexed query."""

    limit: int
    sort: tuple[SortKey, ...]
    marker: str | None = None
    exact: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Base column -> accepted values (``in:`` lists hold several)."""
    numbers: dict[str, int] = field(default_factory=dict)
    """Integer base columns that must equal a value (``min_disk=2``)."""
    properties: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    visibility: str | None = None
    """``None`` means the default listing (community images of others left out)."""
    os_hidden: bool = False
    protected: bool | None = None
    size_min: int | None = None
    size_max: int | None = None
    time_filters: tuple[tuple[str, str, datetime], ...] = ()
    """(column, operator, instant) for ``created_at``/``updated_at``."""
    member_status: str = "accepted"
    project_id: str | None = None
    is_admin: bool = True
    include_deleted: bool = False
    """Also deleted and killed images (v1's ``changes-since``)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """One project's consumption, for quotas and ``/v2/info/usage``."""

    size: int
    images: int
    uploading: int


class ImageRepository(Protocol):
    """Persistence of images.

    ``save`` compares-and-swaps on the status, or on the whole image as read;
    ``save_data`` writes only what an upload changes. Write methods take the
    notification event types (``image.update``...) the change causes; they are
    recorded atomically with it.
    """

    async def add(self, image: Image, *, events: Sequence[str] = ()) -> Image: ...

    async def get(self, image_id: str) -> Image: ...

    async def list(self, query: ListQuery) -> Sequence[Image]: ...

    async def save(
        self,
        image: Image,
        *,
        expect_status: ImageStatus | None = None,
        expect: Image | None = None,
        events: Sequence[str] = (),
    ) -> Image: ...

    async def save_data(
        self, image: Image, *, expect_status: ImageStatus, events: Sequence[str] = ()
    ) -> Image: ...

    async def reserve(self, image_id: str, owner: str | None, *, want: int, quota: int) -> int: ...

    async def location_in_use(self, url: str, *, excluding: str) -> bool: ...

    async def remove(
        self, image: Image, *, keep_data: bool = False, events: Sequence[str] = ()
    ) -> Image: ...

    async def usage(self, owner: str | None, *, excluding: str | None = None) -> Usage: ...


class TransferLeases(Protocol):
    """Which live server writes an image's data (``services/recovery.py`` says why)."""

    async def hold(self, image_id: str, holder: str, *, seconds: float) -> None:
        """Take or renew the lease until ``seconds`` from now."""
        ...

    async def release(self, image_id: str, holder: str) -> None: ...

    async def abandoned(self, *, older_than: datetime) -> Sequence[str]:
        """Images in ``saving`` last changed before ``older_than`` whose lease is gone or
        expired: their writer died."""
        ...


class DeletionQueue(Protocol):
    """Images deleted with ``delayed_delete``, waiting for the scrubber."""

    async def pending_deletes(self, deleted_before: datetime) -> list[tuple[str, list[str]]]: ...

    async def location_in_use(self, url: str, *, excluding: str) -> bool: ...

    async def finish_delete(self, image_id: str) -> None: ...

    async def restore(self, image_id: str) -> None: ...


class MemberRepository(Protocol):
    """Persistence of image members (one live record per image and project)."""

    async def list(self, image_id: str) -> Sequence[ImageMember]: ...

    async def find(self, image_id: str, member_id: str) -> ImageMember | None: ...

    async def count(self, image_id: str) -> int: ...

    async def add(
        self, member: ImageMember, *, quota: int = -1, events: Sequence[str] = ()
    ) -> ImageMember:
        """Add atomically: ``TooLarge`` if the image already has ``quota`` members."""
        ...

    async def save(self, member: ImageMember, *, events: Sequence[str] = ()) -> ImageMember: ...

    async def remove(self, member: ImageMember, *, events: Sequence[str] = ()) -> None: ...


class EventLog(Protocol):
    """Records notification events that go with no other write (``image.send``)."""

    async def record(self, events: Sequence[Event]) -> None: ...


class NoEvents:
    """An ``EventLog`` that records nothing (notifications off)."""

    async def record(self, events: Sequence[Event]) -> None:
        return None


class DataCache(Protocol):
    """A server-local copy of image data (``spyglass.cache``), asked only after
    the download's access checks passed."""

    async def read(
        self,
        image: Image,
        byte_range: ByteRange | None,
        source: Callable[[ByteRange | None], Awaitable[ReadResult]],
    ) -> ReadResult | None:
        """The bytes from the cache (filling it from ``source`` on a miss), or
        ``None`` to read the store directly."""
        ...

    async def evict(self, image_id: str) -> bool: ...
