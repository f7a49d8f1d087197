"""The repository ports, implemented by calls to the registry.

Each method is the SQL repository's, run at the registry: the same compare-and-swap
(``save(expect_status=..., expect=...)`` refused as ``Conflict``/``ConcurrentUpdate``),
the same quota checks (``TooLarge``), the same errors. Where the SQL repository
updates the object it was given (``updated_at`` on a save, the status on a remove),
these do too, so callers see no difference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar, cast

from spyglass.domain.image import Image, ImageStatus
from spyglass.domain.members import ImageMember
from spyglass.notify.events import Event
from spyglass.registry.connection import RegistryConnection
from spyglass.services.ports import ListQuery, Usage

T = TypeVar("T", Image, ImageMember)


def adopt(target: T, source: object) -> T:
    """Make ``target`` what the registry saved (the SQL repositories update in place)."""
    for field in dataclasses.fields(target):
        setattr(target, field.name, getattr(source, field.name))
    return target


class RemoteImageRepository:
    """``ImageRepository`` at the registry."""

    def __init__(self, rpc: RegistryConnection) -> None:
        self.rpc = rpc

    async def add(self, image: Image, *, events: Sequence[str] = ()) -> Image:
        return adopt(image, await self.rpc.call("images.add", image=image, events=events))

    async def get(self, image_id: str) -> Image:
        return cast("Image", await self.rpc.call("images.get", image_id=image_id))

    async def list(self, query: ListQuery) -> Sequence[Image]:
        return cast("Sequence[Image]", await self.rpc.call("images.list", query=query))

    async def save(
        self,
        image: Image,
        *,
        expect_status: ImageStatus | None = None,
        expect: Image | None = None,
        events: Sequence[str] = (),
    ) -> Image:
        saved = await self.rpc.call(
            "images.save", image=image, expect_status=expect_status, expect=expect, events=events
        )
        return adopt(image, saved)

    async def save_data(
        self, image: Image, *, expect_status: ImageStatus, events: Sequence[str] = ()
    ) -> Image:
        saved = await self.rpc.call(
            "images.save_data", image=image, expect_status=expect_status, events=events
        )
        return adopt(image, saved)

    async def reserve(self, image_id: str, owner: str | None, *, want: int, quota: int) -> int:
        granted = await self.rpc.call(
            "images.reserve", image_id=image_id, owner=owner, want=want, quota=quota
        )
        return cast("int", granted)

    async def location_in_use(self, url: str, *, excluding: str) -> bool:
        found = await self.rpc.call("images.location_in_use", url=url, excluding=excluding)
        return cast("bool", found)

    async def remove(
        self, image: Image, *, keep_data: bool = False, events: Sequence[str] = ()
    ) -> Image:
        removed = await self.rpc.call(
            "images.remove", image=image, keep_data=keep_data, events=events
        )
        return adopt(image, removed)

    async def usage(self, owner: str | None, *, excluding: str | None = None) -> Usage:
        return cast("Usage", await self.rpc.call("images.usage", owner=owner, excluding=excluding))


class RemoteMemberRepository:
    """``MemberRepository`` at the registry."""

    def __init__(self, rpc: RegistryConnection) -> None:
        self.rpc = rpc

    async def list(self, image_id: str) -> Sequence[ImageMember]:
        return cast("Sequence[ImageMember]", await self.rpc.call("members.list", image_id=image_id))

    async def find(self, image_id: str, member_id: str) -> ImageMember | None:
        found = await self.rpc.call("members.find", image_id=image_id, member_id=member_id)
        return cast("ImageMember | None", found)

    async def count(self, image_id: str) -> int:
        return cast("int", await self.rpc.call("members.count", image_id=image_id))

    async def add(
        self, member: ImageMember, *, quota: int = -1, events: Sequence[str] = ()
    ) -> ImageMember:
        added = await self.rpc.call("members.add", member=member, quota=quota, events=events)
        return adopt(member, added)

    async def save(self, member: ImageMember, *, events: Sequence[str] = ()) -> ImageMember:
        return adopt(member, await self.rpc.call("members.save", member=member, events=events))

    async def remove(self, member: ImageMember, *, events: Sequence[str] = ()) -> None:
        await self.rpc.call("members.remove", member=member, events=events)


class RemoteDeletionQueue:
    """``DeletionQueue`` at the registry (``spyglass scrub`` through it)."""

    def __init__(self, rpc: RegistryConnection) -> None:
        self.rpc = rpc

    async def pending_deletes(self, deleted_before: datetime) -> list[tuple[str, list[str]]]:
        found = await self.rpc.call("deletions.pending_deletes", deleted_before=deleted_before)
        return cast("list[tuple[str, list[str]]]", found)

    async def location_in_use(self, url: str, *, excluding: str) -> bool:
        found = await self.rpc.call("deletions.location_in_use", url=url, excluding=excluding)
        return cast("bool", found)

    async def finish_delete(self, image_id: str) -> None:
        await self.rpc.call("deletions.finish_delete", image_id=image_id)

    async def restore(self, image_id: str) -> None:
        await self.rpc.call("deletions.restore", image_id=image_id)


class RemoteEventLog:
    """``EventLog`` at the registry: its outbox records the events, its publisher sends them."""

    def __init__(self, rpc: RegistryConnection) -> None:
        self.rpc = rpc

    async def record(self, events: Sequence[Event]) -> None:
        await self.rpc.call("events.record", events=events)


class RemoteTransferLeases:
    """``TransferLeases`` at the registry: every API server's uploads in one place."""

    def __init__(self, rpc: RegistryConnection) -> None:
        self.rpc = rpc

    async def hold(self, image_id: str, holder: str, *, seconds: float) -> None:
        await self.rpc.call("leases.hold", image_id=image_id, holder=holder, seconds=seconds)

    async def release(self, image_id: str, holder: str) -> None:
        await self.rpc.call("leases.release", image_id=image_id, holder=holder)

    async def abandoned(self, *, older_than: datetime) -> Sequence[str]:
        found = await self.rpc.call("leases.abandoned", older_than=older_than)
        return cast("Sequence[str]", found)
