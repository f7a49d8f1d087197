"""The tests' copy of the seed's files holds exactly the seed's options and values."""

from __future__ import annotations

import re
from collections.abc import Iterable

from spyglass.config.ini import Entry, parse_ini, read_ini
from tests.unit.config.seed import SEED_STYLE_API, SEED_STYLE_REGISTRY, shared_seed_files

_COMMENTED_OPTION = re.compile(r"^#\s?([a-z][a-z0-9_]*)\s*=\s*(.*)$")


def _assignments(entries: Iterable[Entry]) -> list[tuple[str, str, str]]:
    return [(e.section, e.key, e.value) for e in entries]


def _commented_options(text: str) -> list[tuple[str, str]]:
    """``# name = value`` lines: options an operator may uncomment."""
    found = (_COMMENTED_OPTION.match(line) for line in text.splitlines())
    return [(m.group(1), m.group(2)) for m in found if m]


def test_the_written_copy_matches_the_seed() -> None:
    api, registry = shared_seed_files()
    for path, copy in ((api, SEED_STYLE_API), (registry, SEED_STYLE_REGISTRY)):
        seed_text = path.read_text(encoding="utf-8")
        assert _assignments(parse_ini(copy, str(path)).entries) == _assignments(
            read_ini(path).entries
        ), path.name
        assert _commented_options(copy) == _commented_options(seed_text), path.name
