"""The metadata definitions catalog in upstream's ``metadef_*`` tables.

Each call is one transaction. Unique clashes (a namespace, child or association
that exists already) come back as ``Duplicate`` with nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spyglass.db import metadef_loader, metadef_rows
from spyglass.db.engine import Database
from spyglass.db.metadef_rows import ROW_OF, child, kind_of, namespace_row
from spyglass.db.models import (
    MetadefAssociationRow,
    MetadefNamespaceRow,
    MetadefResourceTypeRow,
    MetadefTagRow,
)
from spyglass.domain.metadefs import (
    Association,
    MetadefTag,
    Namespace,
    NamespaceContents,
    ResourceType,
)
from spyglass.errors import Duplicate, Forbidden, NotFound
from spyglass.services.metadef_ports import (
    Child,
    ChildKind,
    LoadOptions,
    NamespaceQuery,
    TagQuery,
)
from spyglass.timeutils import utcnow

T = TypeVar("T")

SORT_COLUMNS = {
    "id": MetadefNamespaceRow.id,
    "namespace": MetadefNamespaceRow.namespace,
    "display_name": MetadefNamespaceRow.display_name,
    "description": MetadefNamespaceRow.description,
    "visibility": MetadefNamespaceRow.visibility,
    "protected": MetadefNamespaceRow.protected,
    "owner": MetadefNamespaceRow.owner,
    "created_at": MetadefNamespaceRow.created_at,
    "updated_at": MetadefNamespaceRow.updated_at,
}
TAG_SORT_COLUMNS = {
    "id": MetadefTagRow.id,
    "name": MetadefTagRow.name,
    "created_at": MetadefTagRow.created_at,
    "updated_at": MetadefTagRow.updated_at,
}


def _visible_to(query: NamespaceQuery) -> Select[MetadefNamespaceRow]:
    stmt = select(MetadefNamespaceRow)
    if not query.sees_all:
        seen = [MetadefNamespaceRow.visibility == "public"]
        if query.viewer is not None:
            seen.append(MetadefNamespaceRow.owner == query.viewer)
        stmt = stmt.where(or_(*seen))
    return stmt


def _list(session: Session, query: NamespaceQuery) -> list[tuple[Namespace, list[Association]]]:
    stmt = _visible_to(query)
    if query.visibility is not None:
        stmt = stmt.where(MetadefNamespaceRow.visibility == query.visibility)
    if query.resource_types is not None:
        associated = (
            select(MetadefAssociationRow.namespace_id)
            .join(
                MetadefResourceTypeRow,
                MetadefResourceTypeRow.id == MetadefAssociationRow.resource_type_id,
            )
            .where(MetadefResourceTypeRow.name.in_(query.resource_types))
        )
        stmt = stmt.where(MetadefNamespaceRow.id.in_(associated))
    columns = [SORT_COLUMNS[query.sort_key], MetadefNamespaceRow.created_at, MetadefNamespaceRow.id]
    order = [c.desc() if query.sort_dir == "desc" else c.asc() for c in columns]
    rows = list(session.scalars(stmt.order_by(*order)))
    if query.marker is not None:
        names = [r.namespace for r in rows]
        if query.marker not in names:
            exists = session.scalars(
                select(MetadefNamespaceRow.id).where(MetadefNamespaceRow.namespace == query.marker)
            ).first()
            if exists is None:
                raise NotFound(f"Metadata definition namespace={query.marker} was not found.")
            raise Forbidden(f"Forbidden to see the namespace {query.marker}.")
        rows = rows[names.index(query.marker) + 1 :]
    rows = rows[: query.limit]
    found = metadef_rows.associations(session, [r.id for r in rows])
    return [(metadef_rows.namespace(r), found.get(r.id, [])) for r in rows]


class SqlMetadefRepository:
    """``MetadefRepository`` on a ``Database``."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def _write(self, work: Callable[[Session], T], what: str) -> T:
        try:
            return await self.database.run(work, write=True)
        except IntegrityError:
            raise Duplicate(f"{what} already exists.") from None

    async def list_namespaces(
        self, query: NamespaceQuery
    ) -> Sequence[tuple[Namespace, Sequence[Association]]]:
        return await self.database.run(lambda s: _list(s, query))

    async def get_namespace(self, name: str) -> Namespace | None:
        def work(session: Session) -> Namespace | None:
            row = session.scalars(
                select(MetadefNamespaceRow).where(MetadefNamespaceRow.namespace == name)
            ).one_or_none()
            return None if row is None else metadef_rows.namespace(row)

        return await self.database.run(work)

    async def contents(self, name: str) -> NamespaceContents | None:
        def work(session: Session) -> NamespaceContents | None:
            try:
                return metadef_rows.contents(session, namespace_row(session, name))
            except NotFound:
                return None

        return await self.database.run(work)

    async def create_namespace(self, contents: NamespaceContents) -> NamespaceContents:
        def work(session: Session) -> NamespaceContents:
            now = utcnow()
            row = MetadefNamespaceRow(created_at=now, updated_at=now)
            metadef_rows.set_namespace(row, contents.namespace)
            session.add(row)
            session.flush()
            metadef_rows.add_contents(session, row.id, contents, now=now, loader=False)
            return metadef_rows.contents(session, row)

        return await self._write(
            work, f"A namespace or a definition in {contents.namespace.namespace}"
        )

    async def update_namespace(self, name: str, namespace: Namespace) -> Namespace:
        def work(session: Session) -> Namespace:
            row = namespace_row(session, name)
            metadef_rows.set_namespace(row, namespace)
            row.updated_at = utcnow()
            session.flush()
            return metadef_rows.namespace(row)

        return await self._write(work, f"Namespace {namespace.namespace}")

    async def delete_namespace(self, name: str) -> None:
        def work(session: Session) -> None:
            row = namespace_row(session, name)
            metadef_rows.delete_contents(session, row.id)
            session.delete(row)

        await self.database.run(work, write=True)

    async def list_children(self, namespace: str, kind: ChildKind) -> Sequence[Child]:
        return await self.database.run(
            lambda s: metadef_rows.children(s, namespace_row(s, namespace).id, kind)
        )

    async def list_tags(self, namespace: str, query: TagQuery) -> Sequence[MetadefTag]:
        def work(session: Session) -> list[MetadefTag]:
            ns_id = namespace_row(session, namespace).id
            columns = [TAG_SORT_COLUMNS[query.sort_key], MetadefTagRow.created_at, MetadefTagRow.id]
            order = [c.desc() if query.sort_dir == "desc" else c.asc() for c in columns]
            rows = list(
                session.scalars(
                    select(MetadefTagRow)
                    .where(MetadefTagRow.namespace_id == ns_id)
                    .order_by(*order)
                )
            )
            if query.marker is not None:
                names = [r.name for r in rows]
                if query.marker not in names:
                    raise NotFound(f"Metadata tag {query.marker} was not found.")
                rows = rows[names.index(query.marker) + 1 :]
            if query.limit:
                rows = rows[: query.limit]
            return [MetadefTag(r.name, r.created_at, r.updated_at) for r in rows]

        return await self.database.run(work)

    async def get_child(self, namespace: str, kind: ChildKind, name: str) -> Child | None:
        def work(session: Session) -> Child | None:
            row = metadef_rows.child_row(session, namespace_row(session, namespace).id, kind, name)
            return None if row is None else child(row)

        return await self.database.run(work)

    async def add_child(self, namespace: str, value: Child) -> Child:
        def work(session: Session) -> Child:
            ns_id = namespace_row(session, namespace).id
            if metadef_rows.child_row(session, ns_id, kind_of(value), value.name) is not None:
                raise IntegrityError("duplicate", None, ValueError(value.name))
            row = metadef_rows.new_child(ns_id, value, utcnow())
            session.add(row)
            session.flush()
            return child(row)

        return await self._write(work, f"{value.name} in namespace {namespace}")

    async def add_tags(
        self, namespace: str, tags: Sequence[MetadefTag], *, append: bool
    ) -> Sequence[MetadefTag]:
        def work(session: Session) -> list[MetadefTag]:
            ns_id = namespace_row(session, namespace).id
            if not append and tags:
                session.execute(delete(MetadefTagRow).where(MetadefTagRow.namespace_id == ns_id))
            now = utcnow()
            rows = [metadef_rows.new_child(ns_id, tag, now) for tag in tags]
            session.add_all(rows)
            session.flush()
            return [MetadefTag(r.name, r.created_at, r.updated_at) for r in rows]

        return await self._write(work, f"A tag in namespace {namespace}")

    async def replace_child(self, namespace: str, name: str, value: Child) -> Child:
        def work(session: Session) -> Child:
            kind = kind_of(value)
            row = metadef_rows.child_row(session, namespace_row(session, namespace).id, kind, name)
            if row is None:
                raise NotFound(f"{name} was not found in namespace {namespace}.")
            metadef_rows.set_child(row, value)
            row.updated_at = utcnow()
            session.flush()
            return child(row)

        return await self._write(work, f"{value.name} in namespace {namespace}")

    async def delete_child(self, namespace: str, kind: ChildKind, name: str) -> None:
        def work(session: Session) -> None:
            row = metadef_rows.child_row(session, namespace_row(session, namespace).id, kind, name)
            if row is None:
                raise NotFound(f"{name} was not found in namespace {namespace}.")
            session.delete(row)

        await self.database.run(work, write=True)

    async def delete_children(self, namespace: str, kind: ChildKind) -> None:
        def work(session: Session) -> None:
            table = ROW_OF[kind]
            ns_id = namespace_row(session, namespace).id
            session.execute(delete(table).where(table.namespace_id == ns_id))

        await self.database.run(work, write=True)

    async def list_resource_types(self) -> Sequence[ResourceType]:
        def work(session: Session) -> list[ResourceType]:
            rows = session.scalars(
                select(MetadefResourceTypeRow).order_by(MetadefResourceTypeRow.id)
            )
            return [metadef_rows.resource_type(r) for r in rows]

        return await self.database.run(work)

    async def list_associations(self, namespace: str) -> Sequence[Association]:
        def work(session: Session) -> list[Association]:
            ns_id = namespace_row(session, namespace).id
            return metadef_rows.associations(session, [ns_id]).get(ns_id, [])

        return await self.database.run(work)

    async def add_association(self, namespace: str, association: Association) -> Association:
        def work(session: Session) -> Association:
            ns_id = namespace_row(session, namespace).id
            existing = metadef_rows.associations(session, [ns_id]).get(ns_id, [])
            if any(a.name == association.name for a in existing):
                raise IntegrityError("duplicate", None, ValueError(association.name))
            row = metadef_rows.add_association(
                session, ns_id, association, now=utcnow(), loader=False
            )
            return metadef_rows.association(row, association.name)

        return await self._write(
            work, f"Resource type {association.name} association with namespace {namespace}"
        )

    async def remove_association(self, namespace: str, resource_type: str) -> None:
        def work(session: Session) -> None:
            ns_id = namespace_row(session, namespace).id
            found = session.execute(
                delete(MetadefAssociationRow).where(
                    MetadefAssociationRow.namespace_id == ns_id,
                    MetadefAssociationRow.resource_type_id.in_(
                        select(MetadefResourceTypeRow.id).where(
                            MetadefResourceTypeRow.name == resource_type
                        )
                    ),
                )
            )
            if not found.rowcount:  # type: ignore[attr-defined]
                raise NotFound(
                    f"The resource type {resource_type} is not associated with {namespace}."
                )

        await self.database.run(work, write=True)

    async def load(self, contents: NamespaceContents, options: LoadOptions) -> str:
        try:
            return await self.database.run(
                lambda s: metadef_loader.load(s, contents, options, now=utcnow()), write=True
            )
        except IntegrityError as exc:  # upstream logs such a file and goes on
            return f"skipped (a definition clashes with another: {exc.orig})"

    async def export(self) -> Sequence[NamespaceContents]:
        return await self.database.run(metadef_loader.export)

    async def unload(self) -> None:
        await self.database.run(metadef_loader.unload, write=True)
