"""Location URIs: which are acceptable from users, and how they are shown.

A location may carry credentials (``swift://user:key@...``, ``s3://a:s@...``);
they are never rendered. Users may never point an image at local files
(``file``, ``filesystem``) or at the operator's Swift accounts (``swift+config``).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

RESTRICTED_SCHEMES = frozenset({"file", "filesystem", "swift+config"})


def redact(url: str) -> str:
    """The URL without ``user:password@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme.lower()
