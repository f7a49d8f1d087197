"""The SQL image repository: ``Image`` in and out, with compare-and-swap saves.

Each public method is one unit of work run by ``Database.run``; the bodies are
plain synchronous SQLAlchemy.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, delete, false, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spyglass.db import rows
from spyglass.db.engine import Database
from spyglass.db.listing import IMAGE_COLUMNS, list_select, marker_visibility
from spyglass.db.models import ImageLocationRow, ImageRow, UploadReservationRow
from spyglass.db.outbox import Outbox
from spyglass.domain.image import Image, ImageStatus
from spyglass.errors import BadRequest, ConcurrentUpdate, Conflict, Duplicate, ImageNotFound
from spyglass.notify.events import image_event
from spyglass.services.ports import ListQuery, Usage
from spyglass.timeutils import utcnow

_RECEIVING = ("saving", "uploading", "importing")
"""Statuses of an image whose bytes are arriving (upload, stage, import)."""


def _not_found(image_id: str) -> ImageNotFound:
    return ImageNotFound(f"No image found with ID {image_id}")


def _owned_by(owner: str | None) -> ColumnElement[bool]:
    return ImageRow.owner.is_(None) if owner is None else ImageRow.owner == owner


def _check_unchanged(session: Session, expect: Image) -> None:
    """Lock the image's row, then compare the stored image with what was read."""
    row = session.execute(
        select(IMAGE_COLUMNS)
        .where(ImageRow.id == expect.id, ImageRow.deleted == false())
        .with_for_update()
    ).first()
    if row is None:
        raise _not_found(expect.id)
    if rows.load(session, [row])[0] != expect:
        raise ConcurrentUpdate(f"Image {expect.id} was changed by another request.")


def _update_row(
    session: Session, image: Image, expect: ImageStatus | None, values: dict[str, Any]
) -> None:
    """``UPDATE`` the image's row, if live (and in status ``expect``); else 404 or 409."""
    stmt = (
        update(ImageRow)
        .where(ImageRow.id == image.id, ImageRow.deleted == false())
        .values(updated_at=image.updated_at, **values)
    )
    if expect is not None:
        stmt = stmt.where(ImageRow.status == expect.value)
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
        current = session.get(ImageRow, image.id)
        if current is None or current.deleted:
            raise _not_found(image.id)
        raise Conflict(
            f"Image status transition from {expect} to a new status was refused: "
            f"the image is now {current.status}."
        )


class SqlImageRepository:
    """``services.ports.ImageRepository`` on SQLAlchemy.

    Write methods take the notification ``events`` the change causes; with an
    ``outbox`` they are recorded in the change's own transaction.
    """

    def __init__(self, database: Database, outbox: Outbox | None = None) -> None:
        self.database = database
        self.outbox = outbox

    def _record(self, session: Session, image: Image, events: Sequence[str]) -> None:
        if self.outbox is not None and events:
            self.outbox.write(session, [image_event(name, image) for name in events])

    def _committed(self, events: Sequence[str]) -> None:
        if self.outbox is not None and events:
            self.outbox.committed()

    async def add(self, image: Image, *, events: Sequence[str] = ()) -> Image:
        def work(session: Session) -> Image:
            added = self._add(session, image)
            self._record(session, added, events)
            return added

        added = await self.database.run(work, write=True)
        self._committed(events)
        return added

    async def get(self, image_id: str) -> Image:
        if len(image_id) > 36:
            raise _not_found(image_id)
        return await self.database.read(lambda c: self._get(c, image_id), cheap=True)

    async def list(self, query: ListQuery) -> Sequence[Image]:
        return await self.database.read(lambda c: self._list(c, query))

    async def save(
        self,
        image: Image,
        *,
        expect_status: ImageStatus | None = None,
        expect: Image | None = None,
        events: Sequence[str] = (),
    ) -> Image:
        """Write ``image`` whole.

        With ``expect_status`` only if the row still has that status; with
        ``expect`` (the image as it was read) only if nothing about it changed
        since, so a read-modify-write never loses another request's change.
        Either refusal is ``Conflict`` (``ConcurrentUpdate`` for ``expect``).
        """
        image.updated_at = utcnow()

        def work(session: Session) -> Image:
            saved = self._save(session, image, expect_status, expect)
            self._record(session, saved, events)
            return saved

        saved = await self.database.run(work, write=True)
        self._committed(events)
        return saved

    async def save_data(
        self, image: Image, *, expect_status: ImageStatus, events: Sequence[str] = ()
    ) -> Image:
        """Write only what an upload changes: status, size, hashes and locations.

        Used by uploads, which hold the image for a while: a PATCH of its
        name or properties meanwhile must survive the upload's own save. The
        image's upload reservation ends with it.
        """
        image.updated_at = utcnow()

        def work(session: Session) -> Image:
            saved = self._save_data(session, image, expect_status)
            self._record(session, saved, events)
            return saved

        saved = await self.database.run(work, write=True)
        self._committed(events)
        return saved

    async def reserve(self, image_id: str, owner: str | None, *, want: int, quota: int) -> int:
        """Hold up to ``want`` bytes of ``owner``'s ``quota`` for an image being saved.

        Returns what was granted: ``want``, or less if the owner's other images
        and reservations leave less. Concurrent reservations take turns, so
        the sum of everything granted never passes the quota.
        """
        return await self.database.run(
            lambda s: self._reserve(s, image_id, owner, want, quota), write=True
        )

    async def location_in_use(self, url: str, *, excluding: str) -> bool:
        """Whether an image other than ``excluding`` still refers to the data at ``url``."""
        return await self.database.run(lambda s: rows.location_in_use(s, url, excluding))

    async def remove(
        self, image: Image, *, keep_data: bool = False, events: Sequence[str] = ()
    ) -> Image:
        """Soft-delete the image, as upstream does.

        With ``keep_data`` (``delayed_delete``) the image becomes ``pending_delete``
        and its locations and properties stay for the scrubber, or for a restore.
        """
        image.status = ImageStatus.PENDING_DELETE if keep_data else ImageStatus.DELETED
        image.deleted_at = image.updated_at = utcnow()  # the row's updated_at too

        def work(session: Session) -> None:
            self._remove(session, image, keep_data)
            self._record(session, image, events)

        await self.database.run(work, write=True)
        self._committed(events)
        return image

    async def usage(self, owner: str | None, *, excluding: str | None = None) -> Usage:
        """What a project holds: bytes, images, and images receiving data."""
        return await self.database.run(lambda s: self._usage(s, owner, excluding))

    # -- units of work -------------------------------------------------------------------

    @staticmethod
    def _add(session: Session, image: Image) -> Image:
        """The primary key refuses a taken id (a deleted image's too), so no lookup first:
        it was one more round trip on every create."""
        session.add(
            ImageRow(
                id=image.id,
                created_at=image.created_at,
                updated_at=image.updated_at,
                deleted=False,
                **rows.columns(image),
            )
        )
        try:
            session.flush()
        except IntegrityError as exc:
            raise Duplicate(f"An image with identifier {image.id} already exists") from exc
        rows.add_children(session, image, image.properties, image.tags, image.locations)
        return image  # fmt: skip

    @staticmethod
    def _get(connection: Connection, image_id: str) -> Image:
        image = rows.load_one(connection, image_id)
        if image is None:
            raise _not_found(image_id)
        return image

    @staticmethod
    def _list(connection: Connection, query: ListQuery) -> builtins.list[Image]:
        marker = None
        if query.marker is not None:
            if len(query.marker) <= 36:  # longer cannot be an id; don't send it to the database
                marker = connection.execute(
                    select(IMAGE_COLUMNS).where(
                        ImageRow.id == query.marker,
                        ImageRow.deleted == false(),
                        *marker_visibility(query),
                    )
                ).first()
            if marker is None:  # unknown, deleted or hidden: the same answer for each
                raise BadRequest(f"marker {query.marker} could not be found.")
        statement, params = list_select(query, marker, connection.dialect.name)
        found = connection.execute(statement, params).all()
        return rows.load(connection, found)

    @staticmethod
    def _save(
        session: Session, image: Image, status: ImageStatus | None, expect: Image | None
    ) -> Image:
        if expect is not None:
            _check_unchanged(session, expect)
        _update_row(session, image, status, rows.columns(image))
        rows.sync_children(session, image)
        return image

    @staticmethod
    def _save_data(session: Session, image: Image, status: ImageStatus) -> Image:
        _update_row(session, image, status, rows.data_columns(image))
        rows.sync_locations(session, image)
        if image.status is not ImageStatus.SAVING:
            session.execute(
                delete(UploadReservationRow).where(UploadReservationRow.image_id == image.id)
            )
        return image

    @staticmethod
    def _reserve(session: Session, image_id: str, owner: str | None, want: int, quota: int) -> int:
        # Lock the owner's uploading images (this one included) in id order:
        # every concurrent reservation for this owner waits for the others.
        uploading = session.execute(
            select(ImageRow.id)
            .where(_owned_by(owner), ImageRow.status.in_(_RECEIVING), ImageRow.deleted == false())
            .order_by(ImageRow.id)
            .with_for_update()
        ).all()
        if image_id not in {row.id for row in uploading}:
            raise Conflict(f"Image {image_id} is not receiving data; nothing to reserve.")
        held = case(
            (ImageRow.status == "saving", func.coalesce(UploadReservationRow.size, 0)),
            (
                ImageRow.status.in_(_RECEIVING),
                func.coalesce(UploadReservationRow.size, ImageRow.size, 0),
            ),
            else_=func.coalesce(ImageRow.size, 0),
        )
        used = session.scalar(
            select(func.coalesce(func.sum(held), 0))
            .select_from(ImageRow)
            .outerjoin(UploadReservationRow, UploadReservationRow.image_id == ImageRow.id)
            .where(_owned_by(owner), ImageRow.deleted == false(), ImageRow.id != image_id)
        )
        granted = max(0, min(want, quota - int(used or 0)))
        row = session.get(UploadReservationRow, image_id)
        if row is None:
            session.add(
                UploadReservationRow(
                    image_id=image_id, owner=owner, size=granted, updated_at=utcnow()
                )
            )
        else:
            row.size, row.updated_at = granted, utcnow()
        return granted

    @staticmethod
    def _remove(session: Session, image: Image, keep_data: bool) -> None:
        now = image.deleted_at or utcnow()
        session.execute(
            update(ImageRow)
            .where(ImageRow.id == image.id, ImageRow.deleted == false())
            .values(status=image.status.value, deleted=True, deleted_at=now, updated_at=now)
        )
        if not keep_data:
            rows.delete_children(session, image.id, now)
            return
        session.execute(
            update(ImageLocationRow)
            .where(ImageLocationRow.image_id == image.id, ImageLocationRow.deleted == false())
            .values(status="pending_delete", updated_at=now)
        )

    @staticmethod
    def _usage(session: Session, owner: str | None, excluding: str | None) -> Usage:
        busy = ("saving", "uploading", "importing")
        query = select(
            func.coalesce(func.sum(ImageRow.size), 0),
            func.count(),
            func.coalesce(func.sum(case((ImageRow.status.in_(busy), 1), else_=0)), 0),
        ).where(ImageRow.owner == owner, ImageRow.deleted == false())
        if excluding is not None:
            query = query.where(ImageRow.id != excluding)
        size, count, uploading = session.execute(query).one()
        return Usage(size=int(size), images=int(count), uploading=int(uploading))
