"""Location URIs: which are acceptable from users, and how they are shown.

A location may carry credentials (``swift://user:key@...``, ``s3://a:s@...``);
they are never rendered. Users may never point an image at local files
(``file``, ``filesystem``) or at the operator's Swift accounts (``swift+config``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

RESTRICTED_SCHEMES = frozenset({"file", "filesystem", "swift+config"})

_SLASHED_CREDENTIALS = frozenset(
    {"swift", "swift+http", "swift+https", "swift+config", "s3", "s3+http", "s3+https"}
)
"""Schemes whose credentials may themselves hold ``/`` (Swift keys, S3 secrets):
everything up to the last ``@`` is credentials, wherever the first ``/`` is."""


def redact(url: str) -> str:
    """The URL without its ``user:password@`` part."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if scheme.lower() in _SLASHED_CREDENTIALS:
        cut = rest.rfind("@")
    else:
        authority = len(rest)
        for mark in "/?#":
            found = rest.find(mark)
            if found >= 0:
                authority = min(authority, found)
        cut = rest.rfind("@", 0, authority)
    return url if cut < 0 else f"{scheme}://{rest[cut + 1 :]}"


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme.lower()


def is_canonical(url: str) -> bool:
    """Printable ASCII without spaces, with a lowercase ``scheme://`` prefix.

    Variants such as ``FILE://``, `` file://`` or a tab inside would otherwise
    parse as a restricted scheme in one place and slip past a check in another.
    """
    if not url or any(not 33 <= ord(c) < 127 for c in url):
        return False
    scheme, sep, _ = url.partition("://")
    return bool(sep) and bool(scheme) and scheme == scheme.lower() == scheme_of(url)
