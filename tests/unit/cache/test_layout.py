"""CacheLayout: one filler per image, crash leftovers recognised by their free lock."""

from __future__ import annotations

import os
from pathlib import Path

from spyglass.cache.layout import CacheLayout, valid_id

ID = "22222222-2222-4222-8222-222222222222"


def _layout(tmp_path: Path) -> CacheLayout:
    layout = CacheLayout(tmp_path / "cache")
    layout.create()
    return layout


def test_one_filler_at_a_time(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    fd = layout.start_fill(ID)
    assert fd is not None
    assert layout.start_fill(ID) is None  # locked by the first
    [found] = layout.incomplete_files()
    assert found.locked
    os.write(fd, b"data")
    layout.finish_fill(ID, fd)
    os.close(fd)
    assert layout.path(ID).read_bytes() == b"data"
    assert layout.incomplete_files() == []


def test_a_dead_fillers_leftover_is_replaced(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    layout.incomplete(ID).write_bytes(b"half")  # nobody holds its lock: its filler died
    [found] = layout.incomplete_files()
    assert not found.locked
    fd = layout.start_fill(ID)
    assert fd is not None
    assert os.fstat(fd).st_size == 0
    os.close(fd)


def test_failed_fills_are_kept_in_invalid_or_dropped(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    for keep in (True, False):
        fd = layout.start_fill(ID)
        assert fd is not None
        layout.fail_fill(ID, keep)
        os.close(fd)
    assert [p.name for p in layout.invalid_files()] == [ID]
    assert layout.incomplete_files() == []


def test_queue_is_ordered_and_idempotent(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    layout.queue("a")
    os.utime(layout.queue_dir / "a", (1, 1))
    layout.queue("b")
    layout.queue("b")
    assert layout.queued_ids() == ["a", "b"]
    assert layout.dequeue("a") and not layout.dequeue("a")


def test_only_safe_names(tmp_path: Path) -> None:
    assert valid_id(ID)
    assert not valid_id("../etc/passwd")
    assert not valid_id(".hidden")
