"""``spyglass db load-metadefs``, ``export-metadefs`` and ``unload-metadefs`` on the tables.

These write the tables directly, as upstream's ``glance-manage db load_metadefs``
does: no API validation, no policy. Children are matched by their natural key
(resource type name, property, object or tag name).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from spyglass.db import metadef_rows
from spyglass.db.models import (
    MetadefAssociationRow,
    MetadefNamespaceRow,
    MetadefObjectRow,
    MetadefPropertyRow,
    MetadefResourceTypeRow,
    MetadefTagRow,
)
from spyglass.domain.metadefs import Association, NamespaceContents
from spyglass.services.metadef_ports import Child, LoadOptions

log = logging.getLogger(__name__)


def _find(session: Session, name: str) -> MetadefNamespaceRow | None:
    return session.scalars(
        select(MetadefNamespaceRow).where(MetadefNamespaceRow.namespace == name)
    ).one_or_none()


def _merge_association(
    session: Session, ns_id: int, value: Association, *, now: datetime, prefer_new: bool
) -> None:
    rtype = metadef_rows.resource_type_row(session, value.name, now=now, protected=True)
    row = session.get(MetadefAssociationRow, (rtype.id, ns_id))
    if row is None:
        metadef_rows.add_association(session, ns_id, value, now=now, loader=True)
    elif prefer_new:
        row.prefix = value.prefix
        row.properties_target = value.properties_target
        row.updated_at = now


def _merge_child(
    session: Session, ns_id: int, value: Child, *, now: datetime, prefer_new: bool
) -> None:
    row = metadef_rows.child_row(session, ns_id, metadef_rows.kind_of(value), value.name)
    if row is None:
        session.add(metadef_rows.new_child(ns_id, value, now, loader=True))
    elif prefer_new:
        metadef_rows.set_child(row, value)
        row.updated_at = now


def load(
    session: Session, contents: NamespaceContents, options: LoadOptions, *, now: datetime
) -> str:
    """One namespace from a definition file; returns what happened to it."""
    name = contents.namespace.namespace
    row = _find(session, name)
    action = "created"
    if row is not None and options.overwrite:
        metadef_rows.delete_contents(session, row.id)
        session.delete(row)
        session.flush()
        row, action = None, "overwritten"
    if row is None:
        row = MetadefNamespaceRow(created_at=now, updated_at=None)
        metadef_rows.set_namespace(row, contents.namespace)
        session.add(row)
        session.flush()
    elif not options.merge:
        return "skipped (exists)"
    elif options.prefer_new:
        metadef_rows.set_namespace(row, contents.namespace)
        row.updated_at = now
        action = "merged (new values preferred)"
    else:
        action = "merged"
    for assoc in contents.associations:
        _merge_association(session, row.id, assoc, now=now, prefer_new=options.prefer_new)
    items: list[Child] = [*contents.properties, *contents.objects, *contents.tags]
    for item in items:
        _merge_child(session, row.id, item, now=now, prefer_new=options.prefer_new)
    session.flush()
    return action


def export(session: Session) -> list[NamespaceContents]:
    rows = session.scalars(select(MetadefNamespaceRow).order_by(MetadefNamespaceRow.id))
    return [metadef_rows.contents(session, row) for row in rows]


def unload(session: Session) -> None:
    """Every definition and resource type, in upstream's order."""
    for table in (
        MetadefPropertyRow,
        MetadefObjectRow,
        MetadefTagRow,
        MetadefAssociationRow,
        MetadefNamespaceRow,
        MetadefResourceTypeRow,
    ):
        session.execute(delete(table))
