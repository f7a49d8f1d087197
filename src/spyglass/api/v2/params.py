"""Parse ``GET /v2/images`` query parameters into a ``ListQuery``.

Every rule of upstream's listing is checked here, before the database is
touched: a bad value is a 400 that says which parameter is wrong.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from spyglass.context import RequestContext
from spyglass.errors import BadRequest, InvalidFilter, InvalidSortKey
from spyglass.services.ports import ListQuery, SortKey

SORT_KEYS = frozenset(
    {"name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"}
)
_IN_FILTERS = ("name", "id", "status", "container_format", "disk_format")
_EXACT_FILTERS = ("owner", "checksum", "os_hash_value", "os_hash_algo")
_INT_FILTERS = ("min_disk", "min_ram", "size", "virtual_size")
_VISIBILITIES = frozenset({"public", "private", "shared", "community", "all"})
_MEMBER_STATUSES = frozenset({"pending", "accepted", "rejected", "all"})
_TIME_OPS = frozenset({"gt", "gte", "lt", "lte", "eq", "neq"})
MAX_SORT_KEYS = 20
"""Sort keys one listing may name (repeats included). There are only eight sortable
columns, so more can only be repeats; each repeat used to lengthen the SQL, and the
marker condition grew with the square of their number."""
MAX_TAG_FILTERS = 50
"""``tag=`` filters one listing may carry: each is a subquery, and a thousand of them
overflow SQLite's expression depth (a 500 before this bound)."""
MAX_PROPERTY_FILTERS = 50
"""Property filters (``name=value`` on extra properties) one listing may carry, for the
same reason as ``MAX_TAG_FILTERS``."""
_NOT_PROPERTY_FILTERS = frozenset(
    {
        "limit",
        "marker",
        "sort_key",
        "sort_dir",
        "sort",
        "visibility",
        "member_status",
        "tag",
        "size_min",
        "size_max",
        "protected",
        "os_hidden",
        "created_at",
        "updated_at",
        *_IN_FILTERS,
        *_EXACT_FILTERS,
        *_INT_FILTERS,
    }
)


def parse_list_query(
    params: Sequence[tuple[str, str]], ctx: RequestContext, *, default_limit: int, max_limit: int
) -> ListQuery:
    if any("\x00" in k or "\x00" in v for k, v in params):
        # PostgreSQL's text cannot hold NUL: comparing with one failed the query (a 500)
        raise BadRequest("Query parameters must not contain NUL characters.")
    single = _single_values(params)
    if "changes-since" in single:
        raise BadRequest("The 'changes-since' filter is no longer available on v2.")
    properties = {k: v for k, v in single.items() if k not in _NOT_PROPERTY_FILTERS}
    tags = tuple(dict.fromkeys(v for k, v in params if k == "tag"))
    _at_most(len(tags), MAX_TAG_FILTERS, "tag filters")
    _at_most(len(properties), MAX_PROPERTY_FILTERS, "property filters")
    return ListQuery(
        limit=_limit(single.get("limit"), default_limit, max_limit),
        marker=single.get("marker"),
        sort=_sort(params, single),
        exact={
            **{k: _in_values(k, single[k]) for k in _IN_FILTERS if k in single},
            **{k: (single[k],) for k in _EXACT_FILTERS if k in single},
        },
        numbers={k: _int_value(k, single[k]) for k in _INT_FILTERS if k in single},
        properties=properties,
        tags=tags,
        visibility=_choice("visibility", single.get("visibility"), _VISIBILITIES),
        member_status=_choice(
            "member_status", single.get("member_status", "accepted"), _MEMBER_STATUSES
        )
        or "accepted",
        os_hidden=_bool("os_hidden", single.get("os_hidden", "false"), strict_case=False),
        protected=(
            None
            if "protected" not in single
            else _bool("protected", single["protected"], strict_case=True)
        ),
        size_min=_int("size_min", single.get("size_min")),
        size_max=_int("size_max", single.get("size_max")),
        time_filters=tuple(
            _time_filter(k, single[k]) for k in ("created_at", "updated_at") if k in single
        ),
        project_id=ctx.project_id,
        is_admin=ctx.is_admin,
    )


def _at_most(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise BadRequest(f"Too many {what}: at most {limit} are allowed in one request.")


def _single_values(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The last value of each parameter (upstream reads repeated filters that way)."""
    return {k: v for k, v in params}


_BIGINT = 2**63
"""Integer columns are 64-bit; a larger number made PostgreSQL and MySQL fail the query."""


def _integer(raw: str) -> int:
    """An optionally signed run of ASCII digits within the database's range; ``int()``
    alone would also take ``5_0``, surrounding spaces and other scripts' digits."""
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        raise ValueError(raw)
    value = int(raw)
    if not -_BIGINT <= value < _BIGINT:
        raise ValueError(raw)
    return value


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return min(default, maximum)
    try:
        limit = _integer(raw)
    except ValueError:
        raise BadRequest("limit param must be an integer") from None
    if limit < 0:
        raise BadRequest("limit param must be positive")
    return min(limit, maximum)


def _sort(params: Sequence[tuple[str, str]], single: Mapping[str, str]) -> tuple[SortKey, ...]:
    keys = [v for k, v in params if k == "sort_key"]
    dirs = [v for k, v in params if k == "sort_dir"]
    if "sort" in single:
        if keys or dirs:
            raise BadRequest(
                "The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'."
            )
        pairs = [_split_sort(item) for item in single["sort"].split(",")]
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("Number of sort dirs does not match the number of sort keys")
        keys = keys or ["created_at"]
        dirs = dirs or ["desc"]
        pairs = [(key, dirs[i] if len(dirs) > 1 else dirs[0]) for i, key in enumerate(keys)]
    _at_most(len(pairs), MAX_SORT_KEYS, "sort keys")
    sort: list[SortKey] = []
    for key, direction in pairs:
        checked = SortKey(_sort_key(key), _direction(direction))
        if all(s.key != checked.key for s in sort):  # a repeat cannot change the order
            sort.append(checked)
    descending = sort[0].descending
    for tiebreak in ("created_at", "id"):
        if all(s.key != tiebreak for s in sort):
            sort.append(SortKey(tiebreak, descending))
    return tuple(sort)


def _split_sort(item: str) -> tuple[str, str]:
    key, _, direction = item.strip().partition(":")
    return key.strip(), direction.strip() or "desc"


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise InvalidSortKey(
            f"Invalid sort key: {key}. It must be one of the following: "
            f"{', '.join(sorted(SORT_KEYS))}."
        )
    return key


def _direction(direction: str) -> bool:
    if direction not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort direction: {direction}. It must be asc or desc.")
    return direction == "desc"


def _in_values(name: str, raw: str) -> tuple[str, ...]:
    op, sep, rest = raw.partition(":")
    if not sep:
        return (raw,)
    if op == "eq":
        return (rest,)
    if op != "in":
        raise InvalidFilter(f"Unable to filter by unknown operator '{op}' on {name}.")
    values = next(csv.reader([rest], skipinitialspace=True), [])
    if not values:
        raise InvalidFilter(f"Invalid filter value for {name}: an 'in' list cannot be empty.")
    return tuple(values)


def _choice(name: str, raw: str | None, allowed: frozenset[str]) -> str | None:
    if raw is not None and raw not in allowed:
        raise InvalidFilter(f"Invalid {name} value: {raw}")
    return raw


def _bool(name: str, raw: str, *, strict_case: bool) -> bool:
    value = raw if strict_case else raw.lower()
    if value not in ("true", "false"):
        raise InvalidFilter(f"Invalid value for {name}: {raw}. It must be true or false.")
    return value == "true"


def _int(name: str, raw: str | None) -> int | None:
    return None if raw is None else _int_value(name, raw)


def _int_value(name: str, raw: str) -> int:
    try:
        return _integer(raw)
    except ValueError:
        raise InvalidFilter(f"Invalid value for {name}: {raw}. It must be an integer.") from None


def _time_filter(column: str, raw: str) -> tuple[str, str, datetime]:
    op, sep, rest = raw.partition(":")
    if not sep or op not in _TIME_OPS:
        op, rest = "eq", raw
    try:
        when = datetime.fromisoformat(rest.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilter(f"Invalid time format for {column}: {raw}") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return column, op, when
