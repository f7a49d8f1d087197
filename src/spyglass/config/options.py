"""The option table: every option Spyglass knows, declared once, and lookups over it.

The declarations live in three catalogs, one per origin (``opts_glance``, ``opts_store``,
``opts_oslo``); this module joins them and answers the questions the loader, ``Settings``, the
sample generator and the docs ask: which option is ``[section] name`` (current or deprecated
spelling)? which options may a per-backend section of a given driver hold?
"""

from __future__ import annotations

from collections.abc import Iterable

from spyglass.config.ini import normalize_section
from spyglass.config.opt import Kind, Opt
from spyglass.config.opts_glance import GLANCE_OPTIONS
from spyglass.config.opts_oslo import OSLO_OPTIONS, PASSTHROUGH_SECTIONS
from spyglass.config.opts_store import RESERVED_BACKENDS, STORE_DRIVERS, STORE_OPTIONS

__all__ = [
    "OPTIONS",
    "PASSTHROUGH_SECTIONS",
    "RESERVED_BACKENDS",
    "STORE_DRIVERS",
    "Kind",
    "Opt",
    "backend_names",
    "find",
    "get",
    "store_options",
]

OPTIONS: tuple[Opt, ...] = (*GLANCE_OPTIONS, *STORE_OPTIONS, *OSLO_OPTIONS)
"""Every declared option, in declaration order."""


def _index(opts: Iterable[Opt]) -> tuple[dict[tuple[str, str], Opt], dict[tuple[str, str], Opt]]:
    by_key: dict[tuple[str, str], Opt] = {}
    spellings: dict[tuple[str, str], Opt] = {}
    for opt in opts:
        key = (normalize_section(opt.section), opt.name)
        if key in by_key:
            raise RuntimeError(f"option [{opt.section}] {opt.name} is declared twice")
        by_key[key] = opt
        for section, name in opt.names:
            spelling = (normalize_section(section), name)
            other = spellings.setdefault(spelling, opt)
            if other is not opt:
                raise RuntimeError(f"[{section}] {name} names two options")
    return by_key, spellings


_BY_KEY, _SPELLINGS = _index(OPTIONS)


def get(section: str, name: str) -> Opt:
    """The option whose current spelling is ``[section] name``; :class:`KeyError` if none."""
    return _BY_KEY[(normalize_section(section), name)]


def find(section: str, name: str) -> Opt | None:
    """The option that ``[section] name`` sets, under its current or a deprecated spelling."""
    return _SPELLINGS.get((normalize_section(section), name))


def store_options(driver: str) -> tuple[Opt, ...]:
    """The options a per-backend section of type ``driver`` accepts."""
    return tuple(o for o in STORE_OPTIONS if o.driver in (driver, "*"))


def backend_names(opt: Opt, section: str) -> tuple[tuple[str, str], ...]:
    """Where a store option is read from in the per-backend section ``section``.

    Renames inside ``[glance_store]`` (``vmware_api_insecure``) apply to backend sections too;
    the seed-era ``[DEFAULT]`` spellings do not.
    """
    names = [(section, opt.name)]
    names += [(section, n) for s, n in opt.deprecated if s == opt.section]
    return tuple(names)
