"""Transfer leases in SQL: one row per image being written, renewed by its writer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from spyglass.db.engine import Database
from spyglass.db.models import ImageRow, TransferLeaseRow
from spyglass.timeutils import utcnow


class SqlTransferLeases:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def hold(self, image_id: str, holder: str, *, seconds: float) -> None:
        expires = utcnow() + timedelta(seconds=seconds)

        def work(session: Session) -> None:
            renewed = session.execute(
                update(TransferLeaseRow)
                .where(TransferLeaseRow.image_id == image_id)
                .values(holder=holder, expires_at=expires)
            )
            if renewed.rowcount == 0:  # type: ignore[attr-defined]
                session.add(TransferLeaseRow(image_id=image_id, holder=holder, expires_at=expires))

        await self.database.run(work, write=True)

    async def release(self, image_id: str, holder: str) -> None:
        await self.database.run(
            lambda session: session.execute(
                delete(TransferLeaseRow).where(
                    TransferLeaseRow.image_id == image_id, TransferLeaseRow.holder == holder
                )
            ),
            write=True,
        )

    async def abandoned(self, *, older_than: datetime) -> Sequence[str]:
        now = utcnow()

        def work(session: Session) -> list[str]:
            live = select(TransferLeaseRow.image_id).where(TransferLeaseRow.expires_at > now)
            rows = session.execute(
                select(ImageRow.id).where(
                    ImageRow.status == "saving",
                    ImageRow.deleted.is_(False),
                    ImageRow.updated_at < older_than,
                    ImageRow.id.not_in(live),
                )
            )
            return [row[0] for row in rows]

        return await self.database.run(work)
