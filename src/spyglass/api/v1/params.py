"""Parse ``GET /v1/images[/detail]`` query parameters into the shared ``ListQuery``.

v1's listing differs from v2's in its parameters, not in its rules: the same
repository query answers it. A non-admin sees public images, its own, and those
shared with it whatever the membership's status (v1 has none); ``is_public`` lets
an admin widen that (``none``: everything) or narrow it (``false``: non-public).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from spyglass.context import RequestContext
from spyglass.errors import BadRequest, InvalidFilter, InvalidSortKey
from spyglass.services.ports import ListQuery, SortKey

SORT_KEYS = frozenset(
    {"name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"}
)
_EXACT = ("name", "status", "container_format", "disk_format")
_NUMBERS = ("min_ram", "min_disk")
MAX_PROPERTY_FILTERS = 50
_BIGINT = 2**63


def parse_v1_query(
    params: Sequence[tuple[str, str]], ctx: RequestContext, *, default_limit: int, max_limit: int
) -> ListQuery:
    if any("\x00" in k or "\x00" in v for k, v in params):
        raise BadRequest("Query parameters must not contain NUL characters.")
    single = dict(params)
    properties = {k[len("property-") :]: v for k, v in single.items() if k.startswith("property-")}
    if len(properties) > MAX_PROPERTY_FILTERS:
        raise BadRequest(f"Too many property filters: at most {MAX_PROPERTY_FILTERS}.")
    is_admin, project, exact_visibility, visibility = _public_scope(single.get("is_public"), ctx)
    exact: dict[str, tuple[str, ...]] = {k: (single[k],) for k in _EXACT if k in single}
    if exact_visibility:
        exact["visibility"] = exact_visibility
    time_filters: tuple[tuple[str, str, datetime], ...] = ()
    if "changes-since" in single:
        time_filters = (("updated_at", "gt", _time("changes-since", single["changes-since"])),)
    deleted = _bool("deleted", single.get("deleted")) and ctx.is_admin  # admins only
    if deleted:
        exact["status"] = ("deleted", "pending_delete")
    return ListQuery(
        limit=min(_non_negative("limit", single.get("limit"), default_limit), max_limit),
        marker=_marker(single.get("marker")),
        sort=_sort(single.get("sort_key", "created_at"), single.get("sort_dir", "desc")),
        exact=exact,
        numbers={k: _non_negative(k, single[k], 0) for k in _NUMBERS if k in single},
        properties=properties,
        visibility=visibility,
        protected=_bool("protected", single.get("protected")),
        size_min=_optional("size_min", single.get("size_min")),
        size_max=_optional("size_max", single.get("size_max")),
        time_filters=time_filters,
        member_status="all",
        project_id=project,
        is_admin=is_admin,
        include_deleted="changes-since" in single or bool(deleted),
    )


def _public_scope(
    raw: str | None, ctx: RequestContext
) -> tuple[bool, str | None, tuple[str, ...], str | None]:
    """(list as admin, project, visibilities to match, listing visibility)."""
    value = _bool("is_public", raw) if raw is not None and raw.lower() != "none" else None
    if not ctx.is_admin:
        return False, ctx.project_id, (), None
    if (raw is None and ctx.project_id is not None) or value is True:
        # an admin sees what a normal user of its project sees
        return False, ctx.project_id, (), None
    if value is None:  # is_public=none, or an admin of no project (noauth): every image
        return True, ctx.project_id, (), "all"
    return True, ctx.project_id, ("private", "shared", "community"), "all"


def _non_negative(name: str, raw: str | None, default: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) >= _BIGINT:
        raise BadRequest(f"{name} param must be a non-negative integer, not {raw!r}.")
    return int(raw)


def _optional(name: str, raw: str | None) -> int | None:
    return None if raw is None else _non_negative(name, raw, 0)


def _marker(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        uuid.UUID(raw)
    except ValueError:
        raise BadRequest(f"Invalid marker {raw!r}: an image id.") from None
    return raw


def _sort(key: str, direction: str) -> tuple[SortKey, ...]:
    if key not in SORT_KEYS:
        raise InvalidSortKey(
            f"Unsupported sort_key {key!r}: one of {', '.join(sorted(SORT_KEYS))}."
        )
    if direction not in ("asc", "desc"):
        raise BadRequest(f"Unsupported sort_dir {direction!r}: asc or desc.")
    descending = direction == "desc"
    sort = [SortKey(key, descending)]
    sort.extend(SortKey(k, descending) for k in ("created_at", "id") if k != key)
    return tuple(sort)


def _bool(name: str, raw: str | None) -> bool | None:
    if raw is None:
        return None
    value = raw.lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    if value == "none":
        return None
    raise InvalidFilter(f"Invalid value {raw!r} for {name}: true, false or none.")


def _time(name: str, raw: str) -> datetime:
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid {name} value {raw!r}: an ISO 8601 time.") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    if when.year < 1900:
        raise BadRequest(f"Invalid {name} value {raw!r}: times before 1900 are refused.")
    return when
