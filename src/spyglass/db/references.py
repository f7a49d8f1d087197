"""What orphan collection (``spyglass gc``) must never remove, read from the database."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from spyglass.db.engine import Database
from spyglass.db.models import ImageLocationRow, ImageRow
from spyglass.domain.image import ImageStatus

WRITING = (ImageStatus.SAVING.value, ImageStatus.UPLOADING.value, ImageStatus.IMPORTING.value)


class SqlReferences:
    """``services.gc.References`` on SQLAlchemy."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def locations(self) -> list[str]:
        """Every location an image still has, or will need again (``pending_delete`` data
        waits for the scrubber and ``spyglass scrub --restore``)."""
        return await self.database.run(_locations)

    async def writing(self) -> set[str]:
        """Images whose data is being written now (their data may not be recorded yet)."""
        return await self.database.run(_writing)


def _locations(session: Session) -> list[str]:
    query = select(ImageLocationRow.value).where(
        or_(ImageLocationRow.deleted.is_(False), ImageLocationRow.status == "pending_delete")
    )
    return list(session.scalars(query))


def _writing(session: Session) -> set[str]:
    query = select(ImageRow.id).where(ImageRow.status.in_(WRITING))
    return set(session.scalars(query))
