"""Reading ``user_storage_quota``."""

from __future__ import annotations

import pytest

from spyglass.errors import ConfigError
from spyglass.services.quotas import parse_storage_quota


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", None),
        ("", None),
        ("1024", 1024),
        ("10KB", 10240),
        ("2gb", 2 * 1024**3),
        ("1TB", 1024**4),
    ],
)
def test_quota_values(text: str, expected: int | None) -> None:
    assert parse_storage_quota(text) == expected


@pytest.mark.parametrize("text", ["ten", "10XB", "-5", "1.5GB"])
def test_bad_quota_values(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_storage_quota(text)
