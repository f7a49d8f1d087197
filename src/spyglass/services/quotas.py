"""Storage quotas: how many more bytes a project may upload.

``user_storage_quota`` (``0`` for none, or bytes with an optional ``KB``,
``MB``, ``GB`` or ``TB`` suffix, 1024-based) bounds the bytes a project's
images hold; an upload is cut off with 413 the moment it would pass it.
"""

from __future__ import annotations

import re

from spyglass.errors import ConfigError

_UNITS = {"": 1, "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_QUOTA = re.compile(r"^\s*([0-9]+)\s*([KMGT]?B)?\s*\Z", re.IGNORECASE)


def parse_storage_quota(text: str) -> int | None:
    """Bytes, or None when there is no quota."""
    match = _QUOTA.match(text or "0")
    if not match:
        raise ConfigError(f"user_storage_quota: cannot read {text!r} (e.g. 0, 500MB, 10GB)")
    value = int(match.group(1)) * _UNITS[(match.group(2) or "").upper()]
    return value or None
