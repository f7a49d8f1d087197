"""Image bytes stream: the server's memory stays flat whatever the image size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backends import DATA_PATH
from tests.memory import MIB, assert_memory_is_flat
from tests.server import LiveServer

pytestmark = pytest.mark.backends(*DATA_PATH)


@pytest.mark.slow
def test_peak_rss_is_bounded_and_flat(server_factory: Callable[..., LiveServer]) -> None:
    assert_memory_is_flat(server_factory(), small=32 * MIB, large=384 * MIB)


@pytest.mark.slow
def test_peak_rss_through_a_chosen_store(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(
        "enabled_backends = fast:file, cheap:file",
        "[glance_store]",
        "default_backend = fast",
        "[fast]",
        f"filesystem_store_datadir = {tmp_path}/fast",
        "[cheap]",
        f"filesystem_store_datadir = {tmp_path}/cheap",
    )
    assert_memory_is_flat(server, small=16 * MIB, large=256 * MIB, store_id="cheap")
