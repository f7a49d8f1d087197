"""Log lines say which request they were written for, in the classic and oslo.log formats."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spyglass import request_ids
from spyglass.config import load_settings
from spyglass.logs import RequestIdFilter, configure_logging
from spyglass.logs_json import JsonFormatter


def _record(message: str = "m") -> logging.LogRecord:
    return logging.LogRecord("spyglass.test", logging.INFO, __file__, 1, message, None, None)


def test_the_filter_stamps_the_current_request_id() -> None:
    stamp = RequestIdFilter()
    inside, outside, given = _record(), _record(), _record()
    given.request_id = "req-given"
    with request_ids.bound("req-31"):
        assert stamp.filter(inside)
        assert stamp.filter(given)
    assert stamp.filter(outside)
    stamped = [getattr(record, "request_id", None) for record in (inside, outside, given)]
    assert stamped == ["req-31", "-", "req-given"]


def test_the_id_follows_the_tasks_a_request_starts() -> None:
    async def request() -> str | None:
        with request_ids.bound("req-42"):
            return await asyncio.create_task(child())

    async def child() -> str | None:
        await asyncio.sleep(0)
        return request_ids.current()

    assert asyncio.run(request()) == "req-42"
    assert request_ids.current() is None


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger back as it was (``configure_logging`` changes it)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _lines_logged(tmp_path: Path, *options: str) -> list[str]:
    log = tmp_path / "api.log"
    conf = tmp_path / "api.conf"
    conf.write_text("\n".join(["[DEFAULT]", f"log_file = {log}", *options]) + "\n")
    configure_logging(load_settings([conf], None))
    logger = logging.getLogger("spyglass.test")
    with request_ids.bound("req-9c"):
        logger.info("inside")
    logger.info("outside")
    for handler in logging.getLogger().handlers:
        handler.flush()
    return log.read_text().splitlines()


@pytest.mark.usefixtures("root_logging")
def test_every_line_names_its_request_or_none(tmp_path: Path) -> None:
    inside, outside = _lines_logged(tmp_path)
    assert inside.endswith(" INFO spyglass.test [req-9c] inside")
    assert outside.endswith(" INFO spyglass.test [-] outside")


@pytest.mark.usefixtures("root_logging")
def test_oslo_logs_context_and_default_formats(tmp_path: Path) -> None:
    # an operator's glance-api.conf, with fields of oslo.log's we do not fill
    lines = _lines_logged(
        tmp_path,
        "logging_context_format_string = %(levelname)s [%(request_id)s %(user_identity)s] "
        "%(instance)s%(message)s",
        "logging_default_format_string = %(levelname)s [-] %(instance)s%(message)s",
    )
    assert lines == ["INFO [req-9c -] inside", "INFO [-] outside"]


@pytest.mark.usefixtures("root_logging")
def test_json_lines_carry_the_request_id_in_their_context(tmp_path: Path) -> None:
    inside, outside = (json.loads(line) for line in _lines_logged(tmp_path, "use_json = true"))
    assert (inside["message"], inside["context"]) == ("inside", {"request_id": "req-9c"})
    assert (outside["message"], outside["context"]) == ("outside", {"request_id": None})
    assert inside["name"] == "spyglass.test" and inside["levelname"] == "INFO"
    assert inside["traceback"] is None


def test_a_json_line_holds_its_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["error_summary"] == "ValueError: broken"
    assert line["traceback"][-1] == "ValueError: broken\n"
