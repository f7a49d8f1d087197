"""Which flavors turn the cache on, and which versions it adds."""

from __future__ import annotations

from pathlib import Path

import pytest

from spyglass.api.caching import build_index, cache_mode
from spyglass.api.versions import accepted_versions, versions_document
from spyglass.cache.layout import CacheLayout
from spyglass.cache.sqlite_index import SqliteCacheIndex
from spyglass.config import Settings, load_settings
from spyglass.db.engine import create_database
from spyglass.errors import ConfigError


def _settings(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "api.conf"
    path.write_text(text)
    return load_settings([path], None, {})


@pytest.mark.parametrize(
    ("flavor", "mode"),
    [
        ("", None),
        ("keystone", None),
        ("caching", "caching"),
        ("cachemanagement", "cachemanagement"),
        ("keystone+caching", "caching"),
        ("keystone+cachemanagement", "cachemanagement"),
        ("trusted-auth+cachemanagement", "cachemanagement"),
    ],
)
def test_cache_mode_is_the_flavors_suffix(tmp_path: Path, flavor: str, mode: str | None) -> None:
    settings = _settings(tmp_path, f"[paste_deploy]\nflavor = {flavor}\n")
    assert cache_mode(settings) == mode


def test_cache_versions() -> None:
    assert {"v2.14", "v2.16", "v2.18"} <= accepted_versions(cache=True)
    assert not {"v2.14", "v2.16", "v2.18"} & accepted_versions()
    listed = versions_document("http://h", cache=True)["versions"]
    assert listed[0]["id"] == "v2.18" and listed[0]["status"] == "CURRENT"


def test_drivers(tmp_path: Path) -> None:
    layout = CacheLayout(tmp_path / "cache")
    database = create_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sqlite = _settings(tmp_path, f"[DEFAULT]\nimage_cache_dir = {layout.root}\n")
    index = build_index(sqlite, layout, database)
    assert isinstance(index, SqliteCacheIndex) and index.path == layout.root / "cache.db"
    central = _settings(tmp_path, "[DEFAULT]\nimage_cache_driver = centralized_db\n")
    with pytest.raises(ConfigError, match="worker_self_reference_url"):
        build_index(central, layout, database)
    xattr = _settings(tmp_path, "[DEFAULT]\nimage_cache_driver = xattr\n")
    with pytest.raises(ConfigError, match="not supported"):
        build_index(xattr, layout, database)
