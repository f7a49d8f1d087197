"""The SQL image repository: rows <-> ``Image``, with compare-and-swap saves."""

from __future__ import annotations

import builtins
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from spyglass.db.listing import build_list_select
from spyglass.db.models import ImageLocationRow, ImagePropertyRow, ImageRow, ImageTagRow
from spyglass.domain.image import Image, ImageStatus, Location, Visibility
from spyglass.errors import BadRequest, Conflict, Duplicate, ImageNotFound
from spyglass.services.ports import ListQuery, Usage
from spyglass.timeutils import utcnow

_SCALARS = (
    "name",
    "disk_format",
    "container_format",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_disk",
    "min_ram",
    "owner",
    "protected",
    "os_hidden",
)


class SqlImageRepository:
    """``services.ports.ImageRepository`` on SQLAlchemy."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, image: Image) -> Image:
        async with self._sessions.begin() as session:
            if await session.get(ImageRow, image.id) is not None:
                raise Duplicate(f"An image with identifier {image.id} already exists")
            session.add(
                ImageRow(
                    id=image.id,
                    created_at=image.created_at,
                    updated_at=image.updated_at,
                    deleted=False,
                    **self._columns(image),
                )
            )
            await session.flush()
            self._add_children(session, image, image.properties, image.tags, image.locations)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise Duplicate(f"An image with identifier {image.id} already exists") from exc
        return image

    async def get(self, image_id: str) -> Image:
        if len(image_id) > 36:
            raise ImageNotFound(f"No image found with ID {image_id}")
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(ImageRow).where(ImageRow.id == image_id, ImageRow.deleted == false())
                )
            ).scalar_one_or_none()
            if row is None:
                raise ImageNotFound(f"No image found with ID {image_id}")
            images = await self._load(session, [row])
            return images[0]

    async def list(self, query: ListQuery) -> Sequence[Image]:
        async with self._sessions() as session:
            marker = None
            if query.marker is not None:
                marker = await self._marker_row(session, query)
            dialect = session.get_bind().dialect.name
            rows = (await session.execute(build_list_select(query, marker, dialect))).scalars()
            return await self._load(session, builtins.list(rows))

    async def save(self, image: Image, *, expect_status: ImageStatus | None = None) -> Image:
        """Write ``image``; with ``expect_status`` only if the row still has that status."""
        image.updated_at = utcnow()
        async with self._sessions.begin() as session:
            stmt = (
                update(ImageRow)
                .where(ImageRow.id == image.id, ImageRow.deleted == false())
                .values(updated_at=image.updated_at, **self._columns(image))
            )
            if expect_status is not None:
                stmt = stmt.where(ImageRow.status == expect_status.value)
            result = await session.execute(stmt)
            if result.rowcount != 1:  # type: ignore[attr-defined]
                await self._raise_missing_or_conflict(session, image.id, expect_status)
            await self._sync_children(session, image)
        return image

    async def remove(self, image: Image, *, keep_data: bool = False) -> Image:
        """Soft-delete the image, as upstream does.

        With ``keep_data`` (``delayed_delete``) the image becomes ``pending_delete``
        and its locations and properties stay for the scrubber, or for a restore.
        """
        now = utcnow()
        image.status = ImageStatus.PENDING_DELETE if keep_data else ImageStatus.DELETED
        image.deleted_at = now
        async with self._sessions.begin() as session:
            await session.execute(
                update(ImageRow)
                .where(ImageRow.id == image.id, ImageRow.deleted == false())
                .values(status=image.status.value, deleted=True, deleted_at=now, updated_at=now)
            )
            if keep_data:
                await session.execute(
                    update(ImageLocationRow)
                    .where(ImageLocationRow.image_id == image.id,
                           ImageLocationRow.deleted == false())
                    .values(status="pending_delete", updated_at=now)
                )  # fmt: skip
            else:
                await self._delete_children(session, image.id, now)
        return image

    async def _delete_children(self, session: AsyncSession, image_id: str, now: Any) -> None:
        for table in (ImagePropertyRow, ImageTagRow, ImageLocationRow):
            await session.execute(
                update(table)
                .where(table.image_id == image_id, table.deleted == false())
                .values(deleted=True, deleted_at=now, updated_at=now)
            )

    async def pending_deletes(
        self, deleted_before: Any
    ) -> builtins.list[tuple[str, builtins.list[str]]]:
        """Images waiting for the scrubber, with the locations whose data to delete."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(ImageRow.id, ImageLocationRow.value)
                .join(ImageLocationRow, ImageLocationRow.image_id == ImageRow.id, isouter=True)
                .where(ImageRow.status == ImageStatus.PENDING_DELETE.value,
                       ImageRow.deleted_at <= deleted_before)
                .order_by(ImageRow.deleted_at, ImageRow.id, ImageLocationRow.id)
            )  # fmt: skip
            found: dict[str, builtins.list[str]] = {}
            for image_id, url in rows:
                found.setdefault(image_id, [])
                if url is not None:
                    found[image_id].append(url)
            return builtins.list(found.items())

    async def finish_delete(self, image_id: str) -> None:
        """The scrubber removed the data: the image is now fully ``deleted``."""
        now = utcnow()
        async with self._sessions.begin() as session:
            await session.execute(
                update(ImageRow)
                .where(ImageRow.id == image_id,
                       ImageRow.status == ImageStatus.PENDING_DELETE.value)
                .values(status=ImageStatus.DELETED.value, updated_at=now)
            )  # fmt: skip
            await self._delete_children(session, image_id, now)

    async def restore(self, image_id: str) -> None:
        """Undo a delayed delete: ``pending_delete`` back to ``active``."""
        now = utcnow()
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ImageRow)
                .where(ImageRow.id == image_id,
                       ImageRow.status == ImageStatus.PENDING_DELETE.value)
                .values(status=ImageStatus.ACTIVE.value, deleted=False, deleted_at=None,
                        updated_at=now)
            )  # fmt: skip
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"Image {image_id} is not pending deletion; it cannot be restored.")
            await session.execute(
                update(ImageLocationRow)
                .where(ImageLocationRow.image_id == image_id, ImageLocationRow.deleted == false())
                .values(status="active", updated_at=now)
            )

    async def usage(self, owner: str | None, *, excluding: str | None = None) -> Usage:
        """What a project holds: bytes, images, and images receiving data."""
        busy = ("saving", "uploading", "importing")
        query = select(
            func.coalesce(func.sum(ImageRow.size), 0),
            func.count(),
            func.coalesce(func.sum(case((ImageRow.status.in_(busy), 1), else_=0)), 0),
        ).where(ImageRow.owner == owner, ImageRow.deleted == false())
        if excluding is not None:
            query = query.where(ImageRow.id != excluding)
        async with self._sessions() as session:
            size, count, uploading = (await session.execute(query)).one()
        return Usage(size=int(size), images=int(count), uploading=int(uploading))

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _columns(image: Image) -> dict[str, Any]:
        values = {name: getattr(image, name) for name in _SCALARS}
        values["status"] = image.status.value
        values["visibility"] = image.visibility.value
        return values

    async def _marker_row(self, session: AsyncSession, query: ListQuery) -> ImageRow:
        row = await session.get(ImageRow, query.marker) if len(query.marker or "") <= 36 else None
        if row is None or row.deleted:
            raise BadRequest(f"marker {query.marker} could not be found.")
        return row

    async def _raise_missing_or_conflict(
        self, session: AsyncSession, image_id: str, expect: ImageStatus | None
    ) -> None:
        row = await session.get(ImageRow, image_id)
        if row is None or row.deleted:
            raise ImageNotFound(f"No image found with ID {image_id}")
        raise Conflict(
            f"Image status transition from {expect} to a new status was refused: "
            f"the image is now {row.status}."
        )

    @staticmethod
    def _add_children(
        session: AsyncSession,
        image: Image,
        properties: dict[str, str],
        tags: set[str] | builtins.list[str],
        locations: builtins.list[Location],
    ) -> None:
        now = image.updated_at
        session.add_all(
            ImagePropertyRow(image_id=image.id, name=k, value=v, created_at=now, deleted=False)
            for k, v in properties.items()
        )
        session.add_all(
            ImageTagRow(image_id=image.id, value=t, created_at=now, deleted=False)
            for t in sorted(tags)
        )
        session.add_all(
            ImageLocationRow(
                image_id=image.id,
                value=loc.url,
                meta_data=json.dumps(loc.metadata),
                status="active",
                created_at=now,
                deleted=False,
            )
            for loc in locations
        )

    async def _sync_children(self, session: AsyncSession, image: Image) -> None:
        """Bring properties, tags and locations rows in line with ``image``."""
        now = image.updated_at
        props = (
            await session.execute(
                select(ImagePropertyRow).where(ImagePropertyRow.image_id == image.id)
            )
        ).scalars()
        existing = {p.name: p for p in props}
        for name, row in existing.items():
            if name in image.properties:
                if row.deleted or row.value != image.properties[name]:
                    row.value, row.deleted, row.deleted_at = image.properties[name], False, None
                    row.updated_at = now
            elif not row.deleted:
                row.deleted, row.deleted_at, row.updated_at = True, now, now
        new_props = {k: v for k, v in image.properties.items() if k not in existing}

        tags = (
            await session.execute(
                select(ImageTagRow).where(
                    ImageTagRow.image_id == image.id, ImageTagRow.deleted == false()
                )
            )
        ).scalars()
        kept: set[str] = set()
        for tag in tags:
            if tag.value in image.tags and tag.value not in kept:
                kept.add(tag.value)
            else:
                tag.deleted, tag.deleted_at, tag.updated_at = True, now, now

        locs = builtins.list(
            (
                await session.execute(
                    select(ImageLocationRow)
                    .where(
                        ImageLocationRow.image_id == image.id, ImageLocationRow.deleted == false()
                    )
                    .order_by(ImageLocationRow.id)
                )
            ).scalars()
        )
        current = [Location(r.value, json.loads(r.meta_data or "{}")) for r in locs]
        new_locations: builtins.list[Location] = []
        if current != image.locations:
            for r in locs:
                r.deleted, r.deleted_at, r.updated_at = True, now, now
            new_locations = image.locations
        self._add_children(session, image, new_props, image.tags - kept, new_locations)

    async def _load(
        self, session: AsyncSession, rows: builtins.list[ImageRow]
    ) -> builtins.list[Image]:
        """Build images from rows, fetching children for the whole page at once."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        props: dict[str, dict[str, str]] = defaultdict(dict)
        for image_id, name, value in await session.execute(
            select(ImagePropertyRow.image_id, ImagePropertyRow.name, ImagePropertyRow.value).where(
                ImagePropertyRow.image_id.in_(ids), ImagePropertyRow.deleted == false()
            )
        ):
            props[image_id][name] = value if value is not None else ""
        tags: dict[str, set[str]] = defaultdict(set)
        for image_id, value in await session.execute(
            select(ImageTagRow.image_id, ImageTagRow.value).where(
                ImageTagRow.image_id.in_(ids), ImageTagRow.deleted == false()
            )
        ):
            tags[image_id].add(value)
        locations: dict[str, builtins.list[Location]] = defaultdict(list)
        for image_id, url, meta in await session.execute(
            select(ImageLocationRow.image_id, ImageLocationRow.value, ImageLocationRow.meta_data)
            .where(ImageLocationRow.image_id.in_(ids), ImageLocationRow.deleted == false())
            .order_by(ImageLocationRow.id)
        ):
            locations[image_id].append(Location(url, json.loads(meta or "{}")))
        return [
            Image(
                id=r.id,
                created_at=r.created_at,
                updated_at=r.updated_at or r.created_at,
                status=ImageStatus(r.status),
                visibility=Visibility(r.visibility),
                tags=tags[r.id],
                properties=props[r.id],
                locations=locations[r.id],
                deleted_at=r.deleted_at,
                **{name: getattr(r, name) for name in _SCALARS},
            )
            for r in rows
        ]
