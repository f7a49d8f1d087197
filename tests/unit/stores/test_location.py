"""Location URIs: credentials never shown, canonical spelling required."""

from __future__ import annotations

from pathlib import Path

import pytest

from spyglass.stores.filesystem import FilesystemStore
from spyglass.stores.location import is_canonical, redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("swift://acct:user:key@auth.example/v3/c/o", "swift://auth.example/v3/c/o"),
        ("swift+https://acct:user:k/e@y@auth.example/v3/c/o", "swift+https://auth.example/v3/c/o"),
        ("s3://AKIA:sec/ret@s3.example/b/o", "s3://s3.example/b/o"),
        ("http://u:p@host/path", "http://host/path"),
        ("http://host/path@not-credentials", "http://host/path@not-credentials"),
        ("rbd://fsid/pool/image/snap", "rbd://fsid/pool/image/snap"),
        ("no-scheme", "no-scheme"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("http://a/b", True),
        ("swift+https://a/b", True),
        ("HTTP://a/b", False),
        (" http://a/b", False),
        ("http://a/b ", False),
        ("http://a/\nb", False),
        ("http://a/\u00e9", False),
        ("http:/a", False),
        ("", False),
    ],
)
def test_is_canonical(url: str, canonical: bool) -> None:
    assert is_canonical(url) is canonical


def test_the_filesystem_store_claims_its_own_files(tmp_path: Path) -> None:
    store = FilesystemStore("file", datadir=tmp_path)
    assert store.image_of((tmp_path / "abc").as_uri()) == "abc"
    assert store.image_of(f"file://{tmp_path}/../{tmp_path.name}/abc") == "abc"
    assert store.image_of("file:///etc/passwd") is None
    assert store.image_of("http://host/abc") is None
