"""Benchmarks write their own section of ``docs/performance.md`` and keep the others."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, heading: str, body: str) -> None:
    """Put ``heading`` and ``body`` where that section is (or at the end), keeping the rest."""
    section = f"{heading}\n\n{body.rstrip()}\n"
    text = path.read_text() if path.exists() else "# Performance\n"
    start = text.find(f"\n{heading}\n")
    if start == -1:
        path.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    end = text.find("\n## ", start + 1 + len(heading))
    rest = "" if end == -1 else "\n" + text[end + 1 :]
    path.write_text(text[: start + 1] + section + rest)
