"""The one clock: naive UTC datetimes, as upstream stores them."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC without tzinfo; responses render it without the fraction."""
    return datetime.now(UTC).replace(tzinfo=None)
