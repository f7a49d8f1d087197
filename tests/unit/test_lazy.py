"""``spyglass.lazy``: a module whose code runs on first use, and tells whether it has."""

from __future__ import annotations

import subprocess
import sys

_USE = """
import sys
from spyglass.lazy import is_loaded, lazy_module

colorsys = lazy_module("colorsys")
assert "colorsys" in sys.modules and not is_loaded("colorsys")
assert lazy_module("colorsys") is colorsys
assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
assert is_loaded("colorsys") and is_loaded("sys") and not is_loaded("no_such_module")
import colorsys as again
assert again is colorsys
try:
    lazy_module("no_such_module")
except ModuleNotFoundError:
    pass
else:
    raise AssertionError("a missing module must fail at once")
"""


def test_a_lazy_module_runs_on_first_use_and_says_so() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _USE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
