"""Rows of upstream's ``metadef_*`` tables to catalog values and back, and lookups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from spyglass.db.models import (
    MetadefAssociationRow,
    MetadefNamespaceRow,
    MetadefObjectRow,
    MetadefPropertyRow,
    MetadefResourceTypeRow,
    MetadefTagRow,
)
from spyglass.domain.metadefs import (
    Association,
    MetadefObject,
    MetadefProperty,
    MetadefTag,
    Namespace,
    NamespaceContents,
    NamespaceVisibility,
    ResourceType,
)
from spyglass.errors import NotFound
from spyglass.services.metadef_ports import Child, ChildKind

ChildRow = MetadefObjectRow | MetadefPropertyRow | MetadefTagRow

ROW_OF: dict[ChildKind, type[ChildRow]] = {
    ChildKind.OBJECTS: MetadefObjectRow,
    ChildKind.PROPERTIES: MetadefPropertyRow,
    ChildKind.TAGS: MetadefTagRow,
}


def kind_of(child: Child) -> ChildKind:
    if isinstance(child, MetadefObject):
        return ChildKind.OBJECTS
    if isinstance(child, MetadefProperty):
        return ChildKind.PROPERTIES
    return ChildKind.TAGS


def namespace(row: MetadefNamespaceRow) -> Namespace:
    return Namespace(
        namespace=row.namespace,
        owner=row.owner,
        visibility=NamespaceVisibility(row.visibility or "private"),
        protected=bool(row.protected),
        display_name=row.display_name,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def set_namespace(row: MetadefNamespaceRow, value: Namespace) -> None:
    row.namespace = value.namespace
    row.owner = value.owner
    row.visibility = value.visibility.value
    row.protected = value.protected
    row.display_name = value.display_name
    row.description = value.description


def child(row: ChildRow) -> Child:
    if isinstance(row, MetadefObjectRow):
        return MetadefObject(
            name=row.name,
            description=row.description,
            required=tuple(r for r in (row.required or "").split(",") if r),
            properties=row.json_schema or {},
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
    if isinstance(row, MetadefPropertyRow):
        return MetadefProperty(row.name, row.json_schema or {})
    return MetadefTag(row.name, row.created_at, row.updated_at)


def set_child(row: ChildRow, value: Child) -> None:
    row.name = value.name
    if isinstance(row, MetadefObjectRow) and isinstance(value, MetadefObject):
        row.description = value.description
        row.required = ",".join(value.required) or None
        row.json_schema = dict(value.properties)
    elif isinstance(row, MetadefPropertyRow) and isinstance(value, MetadefProperty):
        row.json_schema = dict(value.schema)


def new_child(namespace_id: int, value: Child, now: datetime, *, loader: bool = False) -> ChildRow:
    """A new row; the loader leaves ``updated_at`` unset, as upstream's does."""
    row = ROW_OF[kind_of(value)](namespace_id=namespace_id, name=value.name, created_at=now)
    row.updated_at = None if loader else now
    set_child(row, value)
    return row


def association(assoc: MetadefAssociationRow, type_name: str) -> Association:
    return Association(
        name=type_name,
        prefix=assoc.prefix,
        properties_target=assoc.properties_target,
        created_at=assoc.created_at,
        updated_at=assoc.updated_at,
    )


def resource_type(row: MetadefResourceTypeRow) -> ResourceType:
    return ResourceType(row.name, row.protected, row.created_at, row.updated_at)


def namespace_row(session: Session, name: str) -> MetadefNamespaceRow:
    row = session.scalars(
        select(MetadefNamespaceRow).where(MetadefNamespaceRow.namespace == name)
    ).one_or_none()
    if row is None:
        raise NotFound(f"Metadata definition namespace={name} was not found.")
    return row


def child_row(session: Session, namespace_id: int, kind: ChildKind, name: str) -> ChildRow | None:
    table = ROW_OF[kind]
    row = session.scalars(
        select(table).where(table.namespace_id == namespace_id, table.name == name)
    ).one_or_none()
    assert row is None or isinstance(row, (MetadefObjectRow, MetadefPropertyRow, MetadefTagRow))
    return row


def children(session: Session, namespace_id: int, kind: ChildKind) -> list[Child]:
    table = ROW_OF[kind]
    rows = session.scalars(
        select(table).where(table.namespace_id == namespace_id).order_by(table.id)
    )
    return [
        child(r)
        for r in rows
        if isinstance(r, (MetadefObjectRow, MetadefPropertyRow, MetadefTagRow))
    ]


def associations(session: Session, namespace_ids: Sequence[int]) -> dict[int, list[Association]]:
    found: dict[int, list[Association]] = {}
    if not namespace_ids:
        return found
    rows = session.execute(
        select(MetadefAssociationRow, MetadefResourceTypeRow.name)
        .join(
            MetadefResourceTypeRow,
            MetadefResourceTypeRow.id == MetadefAssociationRow.resource_type_id,
        )
        .where(MetadefAssociationRow.namespace_id.in_(namespace_ids))
        .order_by(MetadefAssociationRow.created_at, MetadefResourceTypeRow.id)
    )
    for assoc, type_name in rows:
        found.setdefault(assoc.namespace_id, []).append(association(assoc, type_name))
    return found


def contents(session: Session, row: MetadefNamespaceRow) -> NamespaceContents:
    props = children(session, row.id, ChildKind.PROPERTIES)
    objects = children(session, row.id, ChildKind.OBJECTS)
    tags = children(session, row.id, ChildKind.TAGS)
    return NamespaceContents(
        namespace=namespace(row),
        associations=tuple(associations(session, [row.id]).get(row.id, [])),
        properties=tuple(p for p in props if isinstance(p, MetadefProperty)),
        objects=tuple(o for o in objects if isinstance(o, MetadefObject)),
        tags=tuple(t for t in tags if isinstance(t, MetadefTag)),
    )


def resource_type_row(
    session: Session, name: str, *, now: datetime, protected: bool
) -> MetadefResourceTypeRow:
    """The resource type by name, created when missing."""
    row = session.scalars(
        select(MetadefResourceTypeRow).where(MetadefResourceTypeRow.name == name)
    ).one_or_none()
    if row is None:
        row = MetadefResourceTypeRow(name=name, protected=protected, created_at=now)
        row.updated_at = None if protected else now
        session.add(row)
        session.flush()
    return row


def delete_contents(session: Session, namespace_id: int) -> None:
    """Every child of a namespace (its row stays)."""
    for table in (MetadefTagRow, MetadefObjectRow, MetadefPropertyRow):
        session.execute(delete(table).where(table.namespace_id == namespace_id))
    session.execute(
        delete(MetadefAssociationRow).where(MetadefAssociationRow.namespace_id == namespace_id)
    )


def add_contents(
    session: Session, namespace_id: int, value: NamespaceContents, *, now: datetime, loader: bool
) -> None:
    for assoc in value.associations:
        add_association(session, namespace_id, assoc, now=now, loader=loader)
    items: list[Child] = [*value.properties, *value.objects, *value.tags]
    for item in items:
        session.add(new_child(namespace_id, item, now, loader=loader))
    session.flush()


def add_association(
    session: Session, namespace_id: int, value: Association, *, now: datetime, loader: bool
) -> MetadefAssociationRow:
    rtype = resource_type_row(session, value.name, now=now, protected=loader)
    row = MetadefAssociationRow(
        resource_type_id=rtype.id,
        namespace_id=namespace_id,
        prefix=value.prefix,
        properties_target=value.properties_target,
        created_at=now,
    )
    row.updated_at = None if loader else now
    session.add(row)
    session.flush()
    return row
