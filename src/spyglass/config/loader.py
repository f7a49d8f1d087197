"""From parsed files to typed option values, with oslo.config's precedence rules.

Precedence, as oslo.config applies it:

- Files are consulted newest first (the last ``--config-file``, then the ``--config-dir`` files in
  reverse sorted order). The first file that sets an option under *any* of its spellings decides
  it; within that file the current spelling beats deprecated ones, and the last assignment wins.
- Multi-valued options gather every assignment of every file, in reading order.

Only the deciding value is converted, so a bad value that a later file overrides is harmless,
as in oslo.config; but every deciding value is converted at load time, so a bad one stops the
process at startup rather than at first use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spyglass.config import options
from spyglass.config.ini import Entry, IniFile, config_dir_files, normalize_section, read_ini
from spyglass.config.opt import Kind, Opt, convert, is_unset
from spyglass.errors import ConfigError

log = logging.getLogger("spyglass.config")

Key = tuple[str, str]
"""(normalized section, option name)."""


@dataclass(slots=True)
class Resolved:
    """The outcome of reading the files: typed values of the options they set."""

    values: dict[Key, object] = field(default_factory=dict)
    origins: dict[Key, str] = field(default_factory=dict)
    """``file:line`` of the deciding assignment of each value."""
    backends: dict[str, str] = field(default_factory=dict)
    """Per-backend section (normalized) -> driver, from enabled_backends plus reserved ones."""
    sources: tuple[str, ...] = ()


def read_files(config_files: Sequence[Path | str], config_dir: Path | str | None) -> list[IniFile]:
    """Parse every ``--config-file`` in order, then the ``*.conf`` files of ``--config-dir``."""
    paths: list[Path | str] = list(config_files)
    if config_dir is not None:
        paths.extend(config_dir_files(config_dir))
    return [read_ini(p) for p in paths]


class _Files:
    """The parsed files with a per-file index, for the lookups of :func:`resolve`."""

    def __init__(self, files: Sequence[IniFile]) -> None:
        self.indexes = [f.index() for f in files]

    def deciding(self, names: Iterable[tuple[str, str]]) -> Entry | None:
        keys = [(normalize_section(s), n) for s, n in names]
        for index in reversed(self.indexes):
            for key in keys:
                if key in index:
                    return index[key][-1]
        return None

    def every(self, names: Iterable[tuple[str, str]]) -> list[Entry]:
        keys = [(normalize_section(s), n) for s, n in names]
        return [e for index in self.indexes for key in keys for e in index.get(key, ())]


def _fail(entry: Entry, reason: str) -> ConfigError:
    return ConfigError(f"{entry.where}: [{entry.section}] {entry.key}: {reason}")


def _convert(opt: Opt, entry: Entry) -> object:
    if is_unset(opt, entry.value):
        return opt.default
    try:
        return convert(opt, entry.value)
    except ValueError as exc:
        raise _fail(entry, str(exc)) from None


def _read(opt: Opt, names: Sequence[tuple[str, str]], files: _Files) -> tuple[object, str] | None:
    """The typed value and origin of one option, or None when no file sets it."""
    if opt.kind is Kind.MULTISTR:
        hits = files.every(names)
        if not hits:
            return None
        return tuple(str(_convert(opt, e)) for e in hits), hits[-1].where
    entry = files.deciding(names)
    if entry is None:
        return None
    return _convert(opt, entry), entry.where


def _backends(resolved: Resolved) -> dict[str, str]:
    key = ("DEFAULT", "enabled_backends")
    enabled = resolved.values.get(key)
    backends = {normalize_section(s): d for s, d in options.RESERVED_BACKENDS.items()}
    if not isinstance(enabled, dict):
        return backends
    for backend_id, driver in enabled.items():
        if driver not in options.STORE_DRIVERS:
            known = ", ".join(sorted(options.STORE_DRIVERS))
            raise ConfigError(
                f"{resolved.origins[key]}: [DEFAULT] enabled_backends: backend {backend_id!r} "
                f"has unknown store type {driver!r} (known: {known})"
            )
        backends[normalize_section(backend_id)] = driver
    return backends


def resolve(files: Sequence[IniFile]) -> Resolved:
    """Compute the value of every option the files set, and warn about the ones they can't."""
    index = _Files(files)
    resolved = Resolved(sources=tuple(f.path for f in files))
    for opt in options.OPTIONS:
        found = _read(opt, opt.names, index)
        if found is not None:
            key = (normalize_section(opt.section), opt.name)
            resolved.values[key], resolved.origins[key] = found
    resolved.backends = _backends(resolved)
    for section, driver in resolved.backends.items():
        for opt in options.store_options(driver):
            found = _read(opt, options.backend_names(opt, section), index)
            if found is not None:
                resolved.values[(section, opt.name)], resolved.origins[(section, opt.name)] = found
    _check_entries(files, resolved.backends)
    return resolved


def _backend_spellings(backends: Mapping[str, str]) -> set[Key]:
    known: set[Key] = set()
    for section, driver in backends.items():
        for opt in options.store_options(driver):
            known.update(options.backend_names(opt, section))
    return known


def _check_entries(files: Sequence[IniFile], backends: Mapping[str, str]) -> None:
    """Log unknown options (warning) and deprecated spellings (info, once each)."""
    in_backends = _backend_spellings(backends)
    told: set[Key] = set()
    for ini in files:
        for entry in ini.entries:
            key = (entry.section_key, entry.key)
            opt = options.find(entry.section, entry.key)
            if opt is not None:
                current = (normalize_section(opt.section), opt.name)
                if key != current and key not in told:
                    told.add(key)
                    log.info(
                        "%s: [%s] %s is a deprecated spelling of [%s] %s",
                        entry.where,
                        entry.section,
                        entry.key,
                        opt.section,
                        opt.name,
                    )
            elif key in in_backends:
                continue
            elif entry.section_key in options.PASSTHROUGH_SECTIONS:
                log.debug("%s: [%s] %s accepted unchecked", entry.where, entry.section, entry.key)
            else:
                log.warning(
                    "%s: unknown option [%s] %s, ignored", entry.where, entry.section, entry.key
                )
