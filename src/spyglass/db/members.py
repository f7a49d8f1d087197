"""The SQL member repository (``image_members``), soft-deleting as upstream does."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, false, func, select, update
from sqlalchemy.orm import Session

from spyglass.db.engine import Database
from spyglass.db.models import ImageMemberRow, ImageRow
from spyglass.db.outbox import Outbox
from spyglass.domain.members import ImageMember, MemberStatus
from spyglass.errors import Duplicate, NotFound, TooLarge
from spyglass.notify.events import member_event
from spyglass.timeutils import utcnow


def _member(row: ImageMemberRow) -> ImageMember:
    return ImageMember(
        image_id=row.image_id,
        member_id=row.member,
        status=MemberStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at or row.created_at,
        can_share=bool(row.can_share),
    )


def _live(image_id: str, member_id: str | None = None) -> list[ColumnElement[bool]]:
    clauses = [ImageMemberRow.image_id == image_id, ImageMemberRow.deleted == false()]
    if member_id is not None:
        clauses.append(ImageMemberRow.member == member_id)
    return clauses


def _count(session: Session, image_id: str) -> int:
    query = select(func.count()).select_from(ImageMemberRow).where(*_live(image_id))
    return int(session.scalar(query) or 0)


class SqlMemberRepository:
    """``services.ports.MemberRepository`` on SQLAlchemy; ``events`` as for images."""

    def __init__(self, database: Database, outbox: Outbox | None = None) -> None:
        self.database = database
        self.outbox = outbox

    def _record(self, session: Session, member: ImageMember, events: Sequence[str]) -> None:
        if self.outbox is not None and events:
            self.outbox.write(session, [member_event(name, member) for name in events])

    def _lock_image(self, session: Session, image_id: str, events: Sequence[str]) -> None:
        """With events to record, take the image's row first: its events (the image's own
        and its members') then enter the outbox in the order their changes commit."""
        if self.outbox is not None and events:
            session.execute(
                select(ImageRow.id).where(ImageRow.id == image_id).with_for_update()
            ).first()

    def _committed(self, events: Sequence[str]) -> None:
        if self.outbox is not None and events:
            self.outbox.committed()

    async def list(self, image_id: str) -> Sequence[ImageMember]:
        def work(session: Session) -> list[ImageMember]:
            query = select(ImageMemberRow).where(*_live(image_id)).order_by(ImageMemberRow.id)
            return [_member(r) for r in session.scalars(query)]

        return await self.database.run(work)

    async def find(self, image_id: str, member_id: str) -> ImageMember | None:
        def work(session: Session) -> ImageMember | None:
            row = session.scalar(select(ImageMemberRow).where(*_live(image_id, member_id)))
            return None if row is None else _member(row)

        return await self.database.run(work)

    async def count(self, image_id: str) -> int:
        return await self.database.run(lambda s: _count(s, image_id))

    async def add(
        self, member: ImageMember, *, quota: int = -1, events: Sequence[str] = ()
    ) -> ImageMember:
        """Add a member, unless it exists or the image already has ``quota`` members.

        The image's row is locked first, so concurrent adds to one image take
        turns and the count they check is the one they insert into.
        """

        def work(session: Session) -> ImageMember:
            session.execute(
                select(ImageRow.id).where(ImageRow.id == member.image_id).with_for_update()
            ).first()
            live = _live(member.image_id, member.member_id)
            if session.scalar(select(ImageMemberRow.id).where(*live)) is not None:
                raise Duplicate(
                    f"Member {member.member_id} already exists for image {member.image_id}."
                )
            if quota >= 0 and _count(session, member.image_id) >= quota:
                raise TooLarge(f"Maximum number of members ({quota}) reached for this image.")
            session.add(
                ImageMemberRow(
                    image_id=member.image_id, member=member.member_id, can_share=member.can_share,
                    status=member.status.value, created_at=member.created_at,
                    updated_at=member.updated_at, deleted=False,
                )
            )  # fmt: skip
            self._record(session, member, events)
            return member

        added = await self.database.run(work, write=True)
        self._committed(events)
        return added

    async def save(self, member: ImageMember, *, events: Sequence[str] = ()) -> ImageMember:
        member.updated_at = utcnow()

        def work(session: Session) -> ImageMember:
            self._lock_image(session, member.image_id, events)
            result = session.execute(
                update(ImageMemberRow)
                .where(*_live(member.image_id, member.member_id))
                .values(
                    status=member.status.value,
                    can_share=member.can_share,
                    updated_at=member.updated_at,
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise NotFound(f"{member.member_id} is not a member of {member.image_id}.")
            self._record(session, member, events)
            return member

        saved = await self.database.run(work, write=True)
        self._committed(events)
        return saved

    async def remove(self, member: ImageMember, *, events: Sequence[str] = ()) -> None:
        now = utcnow()

        def work(session: Session) -> None:
            self._lock_image(session, member.image_id, events)
            session.execute(
                update(ImageMemberRow)
                .where(*_live(member.image_id, member.member_id))
                .values(deleted=True, deleted_at=now, updated_at=now)
            )
            self._record(session, member, events)

        await self.database.run(work, write=True)
        self._committed(events)
