"""Query parameters of the catalog's list routes, checked as upstream checks them."""

from __future__ import annotations

from collections.abc import Collection

from starlette.requests import Request

from spyglass.errors import BadRequest

TRUE_WORDS = frozenset({"1", "t", "true", "on", "y", "yes"})


def query_text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and "\x00" in value:
        raise BadRequest(f"Invalid {name}: NUL is not allowed.")
    return value


def limit(request: Request, *, default: int | None, maximum: int | None) -> int | None:
    """A non-negative integer (400 otherwise), at most ``maximum``."""
    raw = query_text(request, "limit")
    if raw is None:
        return default
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise BadRequest("limit param must be an integer")
    value = int(raw)
    if value < 0:
        raise BadRequest("limit param must be positive")
    return value if maximum is None else min(value, maximum)


def choice(
    request: Request, name: str, allowed: Collection[str], default: str | None
) -> str | None:
    raw = query_text(request, name)
    if raw is None:
        return default
    if raw not in allowed:
        raise BadRequest(
            f"Invalid {name} value: {raw}. It must be one of {', '.join(sorted(allowed))}."
        )
    return raw


def sort_dir(request: Request) -> str:
    value = choice(request, "sort_dir", ("asc", "desc"), "desc")
    assert value is not None
    return value


def sort_key(request: Request, allowed: Collection[str]) -> str:
    value = choice(request, "sort_key", allowed, "created_at")
    assert value is not None
    return value


def header_bool(request: Request, name: str) -> bool:
    return request.headers.get(name, "").strip().lower() in TRUE_WORDS
