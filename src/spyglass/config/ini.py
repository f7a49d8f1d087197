"""Read Glance-style INI files the way oslo.config does, not the way ``configparser`` does.

Glance operators' files rely on oslo.config's dialect, and ``configparser`` differs from it in
ways that change values (see style.md, note 1). What this reader keeps from oslo.config:

- ``[DEFAULT]`` is an ordinary section: its keys do not appear in other sections.
- No interpolation: ``%40`` or ``%SERVICE_USER%`` stay as written.
- A key may repeat inside a section; every value is kept, in order (``MultiStrOpt``).
- ``key = value`` and ``key: value`` (whichever separator comes first), empty values allowed,
  and a value wrapped in matching quotes loses them.
- Comments are whole lines starting with ``#`` or ``;``; there are no inline comments.
- An indented line continues the previous value (joined with a newline); a blank or comment line
  ends it.
- Section names other than ``DEFAULT`` are matched case-insensitively (oslo.config lowercases
  them); ``[default]`` is *not* ``[DEFAULT]``.

Every value remembers its file and line, so that errors and warnings can point at it.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from spyglass.errors import ConfigError

DEFAULT_SECTION = "DEFAULT"

__all__ = [
    "DEFAULT_SECTION",
    "Entry",
    "IniFile",
    "config_dir_files",
    "normalize_section",
    "parse_ini",
    "read_ini",
]


def normalize_section(name: str) -> str:
    """Return the lookup key of a section name, as oslo.config computes it."""
    return name if name == DEFAULT_SECTION else name.lower()


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``key = value`` assignment, with where it was written."""

    section: str
    """The section name as written in the file."""
    key: str
    value: str
    file: str
    line: int

    @property
    def where(self) -> str:
        """``file:line``, the prefix of every message about this entry."""
        return f"{self.file}:{self.line}"

    @property
    def section_key(self) -> str:
        """The normalized section name used for lookups."""
        return normalize_section(self.section)


@dataclass(frozen=True, slots=True)
class IniFile:
    """The assignments of one file, in file order."""

    path: str
    entries: tuple[Entry, ...]

    def get(self, section: str, key: str) -> list[Entry]:
        """All assignments of ``key`` in ``section`` (normalized name), in file order."""
        wanted = normalize_section(section)
        return [e for e in self.entries if e.key == key and e.section_key == wanted]

    def index(self) -> dict[tuple[str, str], list[Entry]]:
        """Assignments grouped by (normalized section, key), each group in file order."""
        out: dict[tuple[str, str], list[Entry]] = {}
        for entry in self.entries:
            out.setdefault((entry.section_key, entry.key), []).append(entry)
        return out


class _Parser:
    """Line-by-line state machine; one instance per file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries: list[Entry] = []
        self.section: str | None = None
        # The assignment being built: key, first line number, value lines.
        self.key: str | None = None
        self.key_line = 0
        self.lines: list[str] = []

    def fail(self, lineno: int, raw: str) -> ConfigError:
        return ConfigError(f"{self.path}:{lineno}: cannot parse line: {raw!r}")

    def flush(self) -> None:
        if self.key is not None and self.section is not None:
            value = "\n".join(self.lines)
            self.entries.append(Entry(self.section, self.key, value, self.path, self.key_line))
        self.key = None
        self.lines = []

    def feed(self, lineno: int, raw: str) -> None:
        line = raw.rstrip()
        if not line:
            self.flush()
        elif line[0] in " \t":
            self.continuation(lineno, line)
        else:
            self.flush()
            if line.startswith("["):
                self.header(lineno, line)
            elif line[0] not in "#;":
                self.assignment(lineno, line)

    def continuation(self, lineno: int, line: str) -> None:
        stripped = line.lstrip()
        if self.key is not None:
            self.lines.append(stripped)
        elif stripped[0] not in "#;":
            # An indented comment with nothing to continue is harmless; anything else is not.
            raise self.fail(lineno, line)

    def header(self, lineno: int, line: str) -> None:
        if not line.endswith("]") or len(line) <= 2:
            raise self.fail(lineno, line)
        self.section = line[1:-1]

    def assignment(self, lineno: int, line: str) -> None:
        seps = [i for i in (line.find("="), line.find(":")) if i >= 0]
        if not seps or self.section is None:
            raise self.fail(lineno, line)
        cut = min(seps)
        key, value = line[:cut].strip(), line[cut + 1 :].strip()
        if not key:
            raise self.fail(lineno, line)
        if value and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        self.key, self.key_line, self.lines = key, lineno, [value]


def parse_ini(text: str, path: str) -> IniFile:
    """Parse INI ``text``; ``path`` is only used in entries and messages."""
    parser = _Parser(path)
    for lineno, raw in enumerate(text.splitlines(), start=1):
        parser.feed(lineno, raw)
    parser.flush()
    return IniFile(path, tuple(parser.entries))


def read_ini(path: Path | str) -> IniFile:
    """Read and parse one file; any failure to read it is a :class:`ConfigError`."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: config file is not valid UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read config file: {exc.strerror or exc}") from None
    return parse_ini(text, shown)


def config_dir_files(directory: Path | str) -> list[Path]:
    """The ``*.conf`` files of a ``--config-dir``, in the sorted order oslo.config reads them.

    Like oslo.config (which uses :mod:`glob`), names starting with a dot are skipped.
    """
    shown = str(directory)
    if not os.path.isdir(directory):
        raise ConfigError(f"{shown}: config directory not found")
    if not os.access(directory, os.R_OK | os.X_OK):
        raise ConfigError(f"{shown}: cannot read config directory: Permission denied")
    pattern = os.path.join(glob.escape(shown), "*.conf")
    return [Path(p) for p in sorted(glob.glob(pattern))]
