"""The SQL deletion queue: images deleted with ``delayed_delete``, for the scrubber."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import false, select, update
from sqlalchemy.orm import Session

from spyglass.db import rows
from spyglass.db.engine import Database
from spyglass.db.models import ImageLocationRow, ImageRow
from spyglass.domain.image import ImageStatus
from spyglass.errors import Conflict
from spyglass.timeutils import utcnow

PENDING = ImageStatus.PENDING_DELETE.value


class SqlDeletionQueue:
    """``services.ports.DeletionQueue`` on SQLAlchemy."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def pending_deletes(self, deleted_before: datetime) -> list[tuple[str, list[str]]]:
        """Images waiting for the scrubber, with the locations whose data to delete."""
        return await self.database.run(lambda s: self._pending(s, deleted_before))

    async def location_in_use(self, url: str, *, excluding: str) -> bool:
        """Whether an image other than ``excluding`` still refers to the data at ``url``."""
        return await self.database.run(lambda s: rows.location_in_use(s, url, excluding))

    async def finish_delete(self, image_id: str) -> None:
        """The scrubber removed the data: the image is now fully ``deleted``."""
        await self.database.run(lambda s: self._finish(s, image_id), write=True)

    async def restore(self, image_id: str) -> None:
        """Undo a delayed delete: ``pending_delete`` back to ``active``."""
        await self.database.run(lambda s: self._restore(s, image_id), write=True)

    @staticmethod
    def _pending(session: Session, before: datetime) -> list[tuple[str, list[str]]]:
        found: dict[str, list[str]] = {}
        for image_id, url in session.execute(
            select(ImageRow.id, ImageLocationRow.value)
            .join(ImageLocationRow, ImageLocationRow.image_id == ImageRow.id, isouter=True)
            .where(ImageRow.status == PENDING, ImageRow.deleted_at <= before)
            .order_by(ImageRow.deleted_at, ImageRow.id, ImageLocationRow.id)
        ):
            found.setdefault(image_id, [])
            if url is not None:
                found[image_id].append(url)
        return list(found.items())

    @staticmethod
    def _finish(session: Session, image_id: str) -> None:
        now = utcnow()
        session.execute(
            update(ImageRow)
            .where(ImageRow.id == image_id, ImageRow.status == PENDING)
            .values(status=ImageStatus.DELETED.value, updated_at=now)
        )
        rows.delete_children(session, image_id, now)

    @staticmethod
    def _restore(session: Session, image_id: str) -> None:
        now = utcnow()
        restored = session.execute(
            update(ImageRow)
            .where(ImageRow.id == image_id, ImageRow.status == PENDING)
            .values(status=ImageStatus.ACTIVE.value, deleted=False, deleted_at=None,
                    updated_at=now)
        )  # fmt: skip
        if restored.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"Image {image_id} is not pending deletion; it cannot be restored.")
        session.execute(
            update(ImageLocationRow)
            .where(ImageLocationRow.image_id == image_id, ImageLocationRow.deleted == false())
            .values(status="active", updated_at=now)
        )
