"""Shared fixtures for the config tests: the seed's files (two variants) and a file writer.

``seed_files`` runs a test twice: on ``written``, the seed's options and values written by the
test itself (always runs), and on ``shared``, the seed's files verbatim (skipped, with the
reason, where ``shared/fixtures`` is not beside the checkout).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.config.seed import SEED_STYLE_API, SEED_STYLE_REGISTRY, shared_seed_files


@pytest.fixture(params=["written", "shared"])
def seed_files(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """(glance-api.conf, glance-registry.conf) as the seed wrote them."""
    if request.param == "shared":
        return shared_seed_files()
    api, registry = tmp_path / "glance-api.conf", tmp_path / "glance-registry.conf"
    api.write_text(SEED_STYLE_API, encoding="utf-8")
    registry.write_text(SEED_STYLE_REGISTRY, encoding="utf-8")
    return api, registry


WriteConf = Callable[[str, str], Path]


@pytest.fixture
def write_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WriteConf:
    """Write a config file into a temporary working directory and return its relative path.

    Relative paths keep messages short and exact: ``a.conf:3: ...``.
    """
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str) -> Path:
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write
