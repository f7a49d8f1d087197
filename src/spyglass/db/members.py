"""The SQL member repository (``image_members``), soft-deleting as upstream does."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from spyglass.db.models import ImageMemberRow
from spyglass.domain.members import ImageMember, MemberStatus
from spyglass.errors import Duplicate, NotFound
from spyglass.timeutils import utcnow


def _member(row: ImageMemberRow) -> ImageMember:
    return ImageMember(
        image_id=row.image_id,
        member_id=row.member,
        status=MemberStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at or row.created_at,
    )


class SqlMemberRepository:
    """``services.ports.MemberRepository`` on SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @staticmethod
    def _live(image_id: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        return (ImageMemberRow.image_id == image_id, ImageMemberRow.deleted == false())

    async def list(self, image_id: str) -> Sequence[ImageMember]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ImageMemberRow).where(*self._live(image_id)).order_by(ImageMemberRow.id)
            )
            return [_member(r) for r in rows]

    async def find(self, image_id: str, member_id: str) -> ImageMember | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(ImageMemberRow).where(
                    *self._live(image_id), ImageMemberRow.member == member_id
                )
            )
            return None if row is None else _member(row)

    async def count(self, image_id: str) -> int:
        async with self._sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(ImageMemberRow).where(*self._live(image_id))
            )
            return int(total or 0)

    async def add(self, member: ImageMember) -> ImageMember:
        async with self._sessions.begin() as session:
            existing = await session.scalar(
                select(ImageMemberRow.id).where(
                    *self._live(member.image_id), ImageMemberRow.member == member.member_id
                )
            )
            if existing is not None:
                raise Duplicate(
                    f"Member {member.member_id} already exists for image {member.image_id}."
                )
            session.add(
                ImageMemberRow(
                    image_id=member.image_id,
                    member=member.member_id,
                    can_share=False,
                    status=member.status.value,
                    created_at=member.created_at,
                    updated_at=member.updated_at,
                    deleted=False,
                )
            )
        return member

    async def save(self, member: ImageMember) -> ImageMember:
        member.updated_at = utcnow()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ImageMemberRow)
                .where(*self._live(member.image_id), ImageMemberRow.member == member.member_id)
                .values(status=member.status.value, updated_at=member.updated_at)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound(f"{member.member_id} is not a member of {member.image_id}.")
        return member

    async def remove(self, member: ImageMember) -> None:
        now = utcnow()
        async with self._sessions.begin() as session:
            await session.execute(
                update(ImageMemberRow)
                .where(*self._live(member.image_id), ImageMemberRow.member == member.member_id)
                .values(deleted=True, deleted_at=now, updated_at=now)
            )
