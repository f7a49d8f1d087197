"""Rows <-> ``Image``: loading a page of images with their children, and
writing an image's properties, tags and locations back.

Synchronous on a SQLAlchemy ``Session``; ``Database.run`` decides the thread.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    false,
    literal,
    null,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from spyglass.db.models import ImageLocationRow, ImagePropertyRow, ImageRow, ImageTagRow
from spyglass.domain.image import Image, ImageStatus, Location, Visibility

SCALARS = (
    "name", "disk_format", "container_format", "size", "virtual_size", "checksum",
    "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "owner", "protected", "os_hidden",
)  # fmt: skip
CHILD_TABLES = (ImagePropertyRow, ImageTagRow, ImageLocationRow)
DATA = ("size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value")
"""The columns an upload writes; metadata edits made meanwhile are left alone."""


def columns(image: Image) -> dict[str, Any]:
    values = {name: getattr(image, name) for name in SCALARS}
    values["status"] = image.status.value
    values["visibility"] = image.visibility.value
    return values


def data_columns(image: Image) -> dict[str, Any]:
    return {"status": image.status.value, **{name: getattr(image, name) for name in DATA}}


def children_select(of: Callable[[Any], ColumnElement[bool]]) -> Any:
    """Properties, tags and locations of the images ``of(image_id column)`` picks, in one
    round trip: (kind, image id, name or value, value or metadata, row id) rows."""
    return union_all(
        select(literal("p").label("c_kind"), ImagePropertyRow.image_id.label("c_image_id"),
               ImagePropertyRow.name.label("c_first"), ImagePropertyRow.value.label("c_second"),
               ImagePropertyRow.id.label("c_row_id"))
        .where(of(ImagePropertyRow.image_id), ImagePropertyRow.deleted == false()),
        select(literal("t"), ImageTagRow.image_id, ImageTagRow.value, null(), ImageTagRow.id)
        .where(of(ImageTagRow.image_id), ImageTagRow.deleted == false()),
        select(literal("l"), ImageLocationRow.image_id, ImageLocationRow.value,
               ImageLocationRow.meta_data, ImageLocationRow.id)
        .where(of(ImageLocationRow.image_id), ImageLocationRow.deleted == false()),
    )  # fmt: skip


CHILDREN = children_select(lambda image_id: image_id.in_(bindparam("ids", expanding=True)))
"""``children_select`` built once: building it and its cache key per request cost more
than running it (about 0.4 ms against 0.07 ms on SQLite)."""

_ONE_IMAGES_CHILDREN = children_select(
    lambda image_id: image_id == bindparam("image_id")
).subquery()
SHOW = (
    select(ImageRow.__table__, _ONE_IMAGES_CHILDREN)
    .outerjoin(_ONE_IMAGES_CHILDREN, true())
    .where(ImageRow.id == bindparam("image_id"), ImageRow.deleted == false())
)
"""One live image by id with its children, in one statement: a row per child (the image's
columns repeated), or one with empty child columns. Half the round trips of reading the
image, then its children."""


class _Children:
    """The children of some images, gathered from ``children_select`` rows."""

    def __init__(self, found: Iterable[Sequence[Any]]) -> None:
        self.props: dict[str, dict[str, str]] = defaultdict(dict)
        self.tags: dict[str, set[str]] = defaultdict(set)
        self.located: dict[str, list[tuple[int, Location]]] = defaultdict(list)
        for kind, image_id, first, second, row_id in found:
            if kind == "p":
                self.props[image_id][first] = second if second is not None else ""
            elif kind == "t":
                self.tags[image_id].add(first)
            elif kind == "l":
                location = Location(first, json.loads(second or "{}"))
                self.located[image_id].append((row_id, location))

    def images(self, rows: Sequence[Any]) -> list[Image]:
        """Images from ``images`` result rows, read by position: looking a row's columns
        up by name cost more than building the image (there are 18 per row)."""
        if not rows:
            return []
        at = {name: i for i, name in enumerate(rows[0]._fields)}
        i_id, i_created, i_updated, i_deleted = (
            at["id"], at["created_at"], at["updated_at"], at["deleted_at"]
        )  # fmt: skip
        i_status, i_visibility = at["status"], at["visibility"]
        scalars = [(name, at[name]) for name in SCALARS]
        built = []
        for row in rows:
            r = tuple(row)
            image_id = r[i_id]
            located = self.located.get(image_id)
            built.append(
                Image(
                    id=image_id,
                    created_at=r[i_created],
                    updated_at=r[i_updated] or r[i_created],
                    status=ImageStatus(r[i_status]),
                    visibility=Visibility(r[i_visibility]),
                    tags=self.tags.get(image_id) or set(),
                    properties=self.props.get(image_id) or {},
                    locations=[loc for _, loc in sorted(located, key=_row_id)] if located else [],
                    deleted_at=r[i_deleted],
                    **{name: r[i] for name, i in scalars},
                )
            )
        return built


def _row_id(located: tuple[int, Location]) -> int:
    return located[0]


def load(session: Session | Connection, rows: Sequence[Any]) -> list[Image]:
    """Build images from ``images`` rows (anything with its columns as attributes),
    fetching every child for the whole page at once."""
    if not rows:
        return []
    children = _Children(session.execute(CHILDREN, {"ids": [r.id for r in rows]}))
    return children.images(rows)


def load_one(connection: Connection, image_id: str) -> Image | None:
    """The live image ``image_id`` with its children (``SHOW``), or ``None``."""
    found = connection.execute(SHOW, {"image_id": image_id}).all()
    if not found:
        return None
    children = _Children((r.c_kind, r.c_image_id, r.c_first, r.c_second, r.c_row_id) for r in found)
    return children.images(found[:1])[0]


def add_children(
    session: Session,
    image: Image,
    properties: dict[str, str],
    tags: Iterable[str],
    locations: Iterable[Location],
) -> None:
    now = image.updated_at
    session.add_all(
        ImagePropertyRow(image_id=image.id, name=k, value=v, created_at=now, deleted=False)
        for k, v in properties.items()
    )
    session.add_all(
        ImageTagRow(image_id=image.id, value=t, created_at=now, deleted=False) for t in sorted(tags)
    )
    session.add_all(
        ImageLocationRow(image_id=image.id, value=loc.url, meta_data=json.dumps(loc.metadata),
                         status="active", created_at=now, deleted=False)
        for loc in locations
    )  # fmt: skip


def sync_children(session: Session, image: Image) -> None:
    """Bring properties, tags and locations rows in line with ``image``."""
    _sync_properties(session, image)
    _sync_tags(session, image)
    sync_locations(session, image)


def _sync_properties(session: Session, image: Image) -> None:
    """Property rows are reused by name (the table is unique on image and name),
    so a property removed and added again revives its row."""
    now = image.updated_at
    existing = {
        p.name: p
        for p in session.scalars(
            select(ImagePropertyRow).where(ImagePropertyRow.image_id == image.id)
        )
    }
    for name, row in existing.items():
        if name in image.properties:
            if row.deleted or row.value != image.properties[name]:
                row.value, row.deleted, row.deleted_at = image.properties[name], False, None
                row.updated_at = now
        elif not row.deleted:
            row.deleted, row.deleted_at, row.updated_at = True, now, now
    new_props = {k: v for k, v in image.properties.items() if k not in existing}
    add_children(session, image, new_props, (), ())


def _sync_tags(session: Session, image: Image) -> None:
    now = image.updated_at
    kept: set[str] = set()
    for tag in session.scalars(
        select(ImageTagRow).where(ImageTagRow.image_id == image.id, ImageTagRow.deleted == false())
    ):
        if tag.value in image.tags and tag.value not in kept:
            kept.add(tag.value)
        else:
            tag.deleted, tag.deleted_at, tag.updated_at = True, now, now
    add_children(session, image, {}, image.tags - kept, ())


def sync_locations(session: Session, image: Image) -> None:
    """Rewrite the location rows only if the list changed (order counts)."""
    now = image.updated_at
    locs = list(
        session.scalars(
            select(ImageLocationRow)
            .where(ImageLocationRow.image_id == image.id, ImageLocationRow.deleted == false())
            .order_by(ImageLocationRow.id)
        )
    )
    current = [Location(r.value, json.loads(r.meta_data or "{}")) for r in locs]
    if current == image.locations:
        return
    for r in locs:
        r.deleted, r.deleted_at, r.updated_at = True, now, now
    add_children(session, image, {}, (), image.locations)


def location_in_use(session: Session, url: str, excluding: str) -> bool:
    """Whether a live location row of another image holds ``url``."""
    found = session.execute(
        select(ImageLocationRow.id)
        .where(
            ImageLocationRow.value == url,
            ImageLocationRow.deleted == false(),
            ImageLocationRow.image_id != excluding,
        )
        .limit(1)
    ).first()
    return found is not None


def delete_children(session: Session, image_id: str, now: datetime) -> None:
    for table in CHILD_TABLES:
        session.execute(
            update(table)
            .where(table.image_id == image_id, table.deleted == false())
            .values(deleted=True, deleted_at=now, updated_at=now)
        )
