"""Shared helpers for the config tests: where the shared fixture files are, and a file writer."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[3]


def _fixtures_dir() -> Path:
    # The shared/ folder sits beside the repository, for developers and in CI.
    override = os.environ.get("SPYGLASS_FIXTURES")
    return Path(override) if override else _REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The directory holding glance-api.conf and glance-registry.conf."""
    path = _fixtures_dir()
    assert (path / "glance-api.conf").is_file(), f"shared fixtures not found in {path}"
    return path


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
