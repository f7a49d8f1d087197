"""Turn a ``ListQuery`` into one SELECT: filters, visibility rules, keyset paging.

Paging is keyset-based (``WHERE (k1, k2, ...) > marker values``) rather than
OFFSET, so a page deep behind a marker costs the same as the first one. NULLs
sort lowest on every backend: SQLite and MySQL do that natively and PostgreSQL
is told to.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    false,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import BindParameter, UnaryExpression

from spyglass.db.models import ImageMemberRow, ImagePropertyRow, ImageRow, ImageTagRow
from spyglass.services.ports import ListQuery, SortKey

COLUMNS: dict[str, Any] = {
    "id": ImageRow.id,
    "name": ImageRow.name,
    "status": ImageRow.status,
    "container_format": ImageRow.container_format,
    "disk_format": ImageRow.disk_format,
    "size": ImageRow.size,
    "created_at": ImageRow.created_at,
    "updated_at": ImageRow.updated_at,
    "owner": ImageRow.owner,
    "checksum": ImageRow.checksum,
    "os_hash_value": ImageRow.os_hash_value,
    "visibility": ImageRow.visibility,
    "os_hash_algo": ImageRow.os_hash_algo,
    "min_disk": ImageRow.min_disk,
    "min_ram": ImageRow.min_ram,
    "virtual_size": ImageRow.virtual_size,
}

IMAGE_COLUMNS = ImageRow.__table__
"""Listings read plain rows, not ORM objects: a page is built without the ORM's
per-row bookkeeping, which was most of a listing's CPU."""

_TIME_OPS = {
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
    "eq": lambda c, v: c == v,
    "neq": lambda c, v: c != v,
}


PLAIN_PAGES_KEPT = 256
"""Statements kept for plain pages (one per sort, visibility and caller kind in use)."""
_plain_pages: dict[tuple[Any, ...], Select[Any]] = {}
_PROJECT: BindParameter[str] = bindparam("project_id")
_LIMIT: BindParameter[int] = bindparam("limit")


def list_select(query: ListQuery, marker: Any, dialect: str) -> tuple[Select[Any], dict[str, Any]]:
    """The page's SELECT and its parameters.

    A plain page (no marker, no filter: what ``openstack image list`` and dashboards ask
    first) reuses a statement built once per shape, with the caller's project and the
    limit as parameters: building the select with its visibility clauses cost about a
    third of a list's database time on PostgreSQL (``docs/performance.md``). Everything
    else is built per request. Both run the same builder, so the rules are the same.
    """
    if marker is not None or _filtered(query):
        return build_list_select(query, marker, dialect), {}
    given = _given(query.project_id)
    key = (dialect, query.sort, query.visibility, query.member_status, query.is_admin,
           True if given else query.project_id, query.os_hidden, query.include_deleted)  # fmt: skip
    statement = _plain_pages.get(key)
    if statement is None:
        shape = dataclasses.replace(
            query,
            project_id=_PROJECT if given else query.project_id,  # type: ignore[arg-type]
            limit=_LIMIT,  # type: ignore[arg-type]
        )
        statement = build_list_select(shape, None, dialect)
        if len(_plain_pages) < PLAIN_PAGES_KEPT:
            _plain_pages[key] = statement
    params: dict[str, Any] = {"limit": query.limit}
    if given:
        params["project_id"] = query.project_id
    return statement, params


def _given(project_id: str | BindParameter[str] | None) -> bool:
    """Whether the caller has a project (its parameter, in a statement built for reuse)."""
    return isinstance(project_id, BindParameter) or bool(project_id)


def _filtered(query: ListQuery) -> bool:
    return bool(
        query.exact or query.numbers or query.properties or query.tags or query.time_filters
        or query.protected is not None or query.size_min is not None
        or query.size_max is not None
    )  # fmt: skip


def build_list_select(query: ListQuery, marker: Any, dialect: str) -> Select[Any]:
    """The SELECT for one page; ``marker`` is the previous page's last row, already checked."""
    stmt = select(IMAGE_COLUMNS)
    if not query.include_deleted:
        stmt = stmt.where(ImageRow.deleted == false(), ImageRow.status != "killed")
    stmt = stmt.where(*_visibility_clauses(query), *_filter_clauses(query))
    if marker is not None:
        stmt = stmt.where(_after_marker(query.sort, marker))
    return stmt.order_by(*(_order(k, dialect) for k in query.sort)).limit(query.limit)


def _member_of(project_id: str | None, statuses: tuple[str, ...] | None) -> ColumnElement[bool]:
    cond = and_(
        ImageMemberRow.image_id == ImageRow.id,
        ImageMemberRow.member == project_id,
        ImageMemberRow.deleted == false(),
    )
    if statuses is not None:
        cond = and_(cond, ImageMemberRow.status.in_(statuses))
    return exists().where(cond)


def marker_visibility(query: ListQuery) -> list[ColumnElement[bool]]:
    """Whether the caller may see the marker image at all: upstream's rule for showing an
    image (admins, owners, public and community, members of shared in any status).

    A marker it may not see must be refused exactly like an unknown id; paging from it
    would reveal its sort values (name, size, status...) one comparison at a time. The
    listing's own filters (``visibility=``, ``member_status=``) do not apply: a visible
    image outside this listing reveals nothing the caller cannot read anyway.
    """
    if query.is_admin:
        return []
    owned = ImageRow.owner == query.project_id if query.project_id else false()
    return [
        or_(
            ImageRow.owner.is_(None),
            ImageRow.visibility.in_(("public", "community")),
            owned,
            and_(ImageRow.visibility == "shared", _member_of(query.project_id, None)),
        )
    ]


def _visibility_clauses(query: ListQuery) -> list[ColumnElement[bool]]:
    """Upstream's listing rules: who sees which visibility in which listing."""
    clauses: list[ColumnElement[bool]] = []
    owned = ImageRow.owner == query.project_id if _given(query.project_id) else false()
    if query.visibility is None:
        clauses.append(or_(ImageRow.visibility != "community", owned))
    elif query.visibility != "all":
        clauses.append(ImageRow.visibility == query.visibility)
    if not query.is_admin:
        member_statuses = None if query.member_status == "all" else (query.member_status,)
        clauses.append(
            or_(
                ImageRow.visibility.in_(("public", "community")),
                owned,
                and_(
                    ImageRow.visibility == "shared", _member_of(query.project_id, member_statuses)
                ),
            )
        )
    return clauses


def _filter_clauses(query: ListQuery) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [
        ImageRow.os_hidden == (true() if query.os_hidden else false())
    ]
    for key, values in query.exact.items():
        column = COLUMNS[key]
        clauses.append(column == values[0] if len(values) == 1 else column.in_(values))
    clauses.extend(COLUMNS[key] == value for key, value in query.numbers.items())
    for name, value in query.properties.items():
        clauses.append(
            exists().where(
                ImagePropertyRow.image_id == ImageRow.id,
                ImagePropertyRow.name == name,
                ImagePropertyRow.value == value,
                ImagePropertyRow.deleted == false(),
            )
        )
    clauses.extend(
        exists().where(
            ImageTagRow.image_id == ImageRow.id,
            ImageTagRow.value == tag,
            ImageTagRow.deleted == false(),
        )
        for tag in query.tags
    )
    if query.protected is not None:
        clauses.append(ImageRow.protected == (true() if query.protected else false()))
    if query.size_min is not None:
        clauses.append(ImageRow.size >= query.size_min)
    if query.size_max is not None:
        clauses.append(ImageRow.size <= query.size_max)
    clauses.extend(_TIME_OPS[op](COLUMNS[col], when) for col, op, when in query.time_filters)
    return clauses


def _nullable(column: Any) -> bool:
    return bool(column.property.columns[0].nullable)


def _order(key: SortKey, dialect: str) -> UnaryExpression[Any]:
    """NULL sorts as the lowest value, as on MySQL and SQLite. PostgreSQL puts NULL highest,
    so a nullable key says where NULLs go; a key that cannot be NULL (``created_at``, ``id``:
    the default order) says nothing, since ``DESC NULLS LAST`` is an order no ascending index
    gives read backwards: PostgreSQL then sorted the whole table for every first page."""
    column = COLUMNS[key.key]
    ordered: UnaryExpression[Any] = column.desc() if key.descending else column.asc()
    if dialect == "postgresql" and _nullable(column):
        ordered = ordered.nulls_last() if key.descending else ordered.nulls_first()
    return ordered


def _beyond(column: Any, value: Any, descending: bool) -> ColumnElement[bool]:
    """Rows strictly after ``value`` in this column's order (NULL counts as lowest)."""
    if value is None:
        return column.is_not(None) if not descending else false()
    if descending and _nullable(column):
        return or_(column < value, column.is_(None))
    if descending:
        return column < value  # type: ignore[no-any-return]
    return column > value  # type: ignore[no-any-return]


def _same(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]


def _after_marker(sort: tuple[SortKey, ...], marker: Any) -> ColumnElement[bool]:
    """Lexicographic "after the marker" over all sort keys.

    The OR-chain alone makes some planners scan from the start of the index; a
    redundant range on the first key lets them seek straight to the marker.
    """
    chain = _lexicographic(sort, marker)
    first = sort[0]
    column = COLUMNS[first.key]
    value = getattr(marker, first.key)
    if value is None or _nullable(column):
        return chain
    bound = column <= value if first.descending else column >= value
    return and_(bound, chain)


def _lexicographic(sort: tuple[SortKey, ...], marker: Any) -> ColumnElement[bool]:
    """``k1 > v1 OR (k1 = v1 AND (k2 > v2 OR (k2 = v2 AND ...)))``, built from the last key
    outwards so each key appears twice: the flat OR of equal-prefixes repeats the prefix
    in every alternative and grows with the square of the number of keys."""
    condition: ColumnElement[bool] | None = None
    for key in reversed(sort):
        column = COLUMNS[key.key]
        value = getattr(marker, key.key)
        beyond = _beyond(column, value, key.descending)
        condition = (
            beyond if condition is None else or_(beyond, and_(_same(column, value), condition))
        )
    return condition if condition is not None else not_(false())
