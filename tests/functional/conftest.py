"""The functional suite runs in every selected configuration (``tests.backends``).

A test that can only hold in some of them says which with
``@pytest.mark.backends("sqlite", ...)`` (it reads SQLite's file, say).
"""

from __future__ import annotations

import pytest

from tests.backends import selected


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = selected(metafunc.config.getoption("backends"))
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None:
        names = [n for n in names if n in marker.args]
    if not names:
        names = [selected(None)[0]]  # collected, then skipped by the autouse fixture
    metafunc.parametrize("metadata_backend", names, indirect=True, scope="session")


@pytest.fixture(autouse=True)
def _in_backend(request: pytest.FixtureRequest, metadata_backend: str) -> None:
    marker = request.node.get_closest_marker("backends")
    if marker is not None and metadata_backend not in marker.args:
        pytest.skip(f"runs only in {', '.join(marker.args)}")
