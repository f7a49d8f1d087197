"""The test servers' watch (``tests.server``): a server that died on its own is reported to
the failing test even when the test's clean-up stopped it afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.server import _stop, _watch, servers_that_died


def _started(tmp_path: Path, code: str) -> subprocess.Popen[bytes]:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=out)
    _watch(process, "a test server", log)
    return process


def test_a_server_that_died_before_its_stop_is_still_reported(tmp_path: Path) -> None:
    servers_that_died()  # what earlier tests left
    process = _started(tmp_path, "import sys; print('aborted here'); sys.exit(134)")
    process.wait(timeout=30)
    _stop(process)  # a test's finally: stop what it started
    [(what, code, tail)] = servers_that_died()
    assert (what, code) == ("a test server", 134) and "aborted here" in tail
    assert servers_that_died() == []  # told once


def test_a_server_stopped_while_running_is_not_reported(tmp_path: Path) -> None:
    servers_that_died()
    process = _started(tmp_path, "import time; time.sleep(60)")
    _stop(process)
    assert servers_that_died() == []
