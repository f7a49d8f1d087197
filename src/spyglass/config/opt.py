"""What an option is, and how its text becomes a typed value.

An :class:`Opt` is pure data: name, section, kind, default, help, the names it used to have, and
the bounds upstream declares. The catalogs (``opts_*.py``) build them with the small helpers
below so that each declaration fits on a line or two. :func:`convert` is the one place where a
string from a file (or a CLI override) becomes a value; it raises :class:`ValueError` with a
short reason that the loader prefixes with ``file:line: [section] name:``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypedDict, Unpack

__all__ = [
    "Kind",
    "Opt",
    "bool_opt",
    "convert",
    "dict_opt",
    "float_opt",
    "in_section",
    "int_opt",
    "list_opt",
    "multi_opt",
    "port_opt",
    "str_opt",
]


class Kind(StrEnum):
    """The value types of oslo.config that Glance's options use."""

    STR = "str"
    INT = "int"
    BOOL = "bool"
    FLOAT = "float"
    LIST = "list"
    DICT = "dict"
    MULTISTR = "multistr"
    PORT = "port"


_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no"})
_NUMERIC = frozenset({Kind.INT, Kind.FLOAT, Kind.PORT, Kind.BOOL})


@dataclass(frozen=True, slots=True)
class Opt:
    """One declared option."""

    name: str
    section: str
    kind: Kind
    default: object
    help: str
    deprecated: tuple[tuple[str, str], ...] = ()
    """Older (section, name) spellings still read, in order of preference after the current one."""
    min: int | float | None = None
    max: int | float | None = None
    choices: tuple[str, ...] | None = None
    """Allowed values (for lists: allowed items)."""
    secret: bool = False
    """Never print the value (passwords, keys, connection URLs)."""
    driver: str | None = None
    """For store options, the glance_store driver they configure (per-backend sections)."""

    @property
    def key(self) -> tuple[str, str]:
        """(section, name): the identity of the option."""
        return (self.section, self.name)

    @property
    def names(self) -> tuple[tuple[str, str], ...]:
        """Every (section, name) this option is read from, current spelling first."""
        return (self.key, *self.deprecated)


class Extras(TypedDict, total=False):
    """The optional attributes the helpers accept."""

    deprecated: Iterable[tuple[str, str]]
    min: int | float
    max: int | float
    choices: Iterable[str]
    secret: bool
    driver: str


def _opt(kind: Kind, name: str, default: object, help: str, **kw: Unpack[Extras]) -> Opt:
    choices = kw.get("choices")
    return Opt(
        name,
        "",
        kind,
        default,
        help,
        deprecated=tuple(kw.get("deprecated", ())),
        min=kw.get("min"),
        max=kw.get("max"),
        choices=None if choices is None else tuple(choices),
        secret=kw.get("secret", False),
        driver=kw.get("driver"),
    )


def str_opt(name: str, default: str | None, help: str, **kw: Unpack[Extras]) -> Opt:
    """A string option (``StrOpt``)."""
    return _opt(Kind.STR, name, default, help, **kw)


def int_opt(name: str, default: int | None, help: str, **kw: Unpack[Extras]) -> Opt:
    """An integer option (``IntOpt``), optionally bounded by ``min``/``max``."""
    return _opt(Kind.INT, name, default, help, **kw)


def port_opt(name: str, default: int | None, help: str, **kw: Unpack[Extras]) -> Opt:
    """A TCP port (``PortOpt``): an integer from 0 to 65535."""
    kw.setdefault("min", 0)
    kw.setdefault("max", 65535)
    return _opt(Kind.PORT, name, default, help, **kw)


def float_opt(name: str, default: float | None, help: str, **kw: Unpack[Extras]) -> Opt:
    """A floating-point option (``FloatOpt``)."""
    return _opt(Kind.FLOAT, name, default, help, **kw)


def bool_opt(name: str, default: bool | None, help: str, **kw: Unpack[Extras]) -> Opt:
    """A boolean option (``BoolOpt``)."""
    return _opt(Kind.BOOL, name, default, help, **kw)


def list_opt(name: str, default: Iterable[str] | None, help: str, **kw: Unpack[Extras]) -> Opt:
    """A comma-separated list (``ListOpt``); the default is stored as a tuple."""
    return _opt(Kind.LIST, name, None if default is None else tuple(default), help, **kw)


def dict_opt(name: str, default: Mapping[str, str] | None, help: str, **kw: Unpack[Extras]) -> Opt:
    """``key:value,key2:value2`` (``DictOpt``)."""
    return _opt(Kind.DICT, name, None if default is None else dict(default), help, **kw)


def multi_opt(name: str, help: str, **kw: Unpack[Extras]) -> Opt:
    """A key that may repeat, every value kept (``MultiStrOpt``); defaults to ``()``."""
    return _opt(Kind.MULTISTR, name, (), help, **kw)


def in_section(section: str, opts: Iterable[Opt], *, also: str | None = None) -> list[Opt]:
    """Place ``opts`` in ``section``.

    Deprecated spellings given without a section (section ``""``) get the option's own section.
    ``also`` names a section from which every option is additionally read under the same name
    (glance_store options that seed-era files put in ``[DEFAULT]``).
    """
    placed = []
    for opt in opts:
        dep = [(s or section, n) for s, n in opt.deprecated]
        if also is not None:
            dep.append((also, opt.name))
        placed.append(replace(opt, section=section, deprecated=tuple(dep)))
    return placed


# --- conversion -----------------------------------------------------------------------------


def is_unset(opt: Opt, raw: str) -> bool:
    """An empty value for a number or boolean means "not set": the default applies.

    oslo.config turns an empty integer into ``None`` and rejects an empty boolean; using the
    default instead keeps every typed attribute of ``Settings`` a real value.
    """
    return opt.kind in _NUMERIC and not raw.strip()


def _number(opt: Opt, raw: str) -> int | float:
    text = raw.strip()
    try:
        value: int | float = int(text) if opt.kind is not Kind.FLOAT else float(text)
    except ValueError:
        what = "a number" if opt.kind is Kind.FLOAT else "an integer"
        raise ValueError(f"{raw!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _check_bounds(opt: Opt, value: int | float) -> None:
    if opt.min is not None and value < opt.min:
        raise ValueError(f"{value} is below the minimum {opt.min}")
    if opt.max is not None and value > opt.max:
        raise ValueError(f"{value} is above the maximum {opt.max}")


def _check_choice(opt: Opt, value: str) -> None:
    if opt.choices is not None and value not in opt.choices:
        raise ValueError(f"{value!r} is not one of: {', '.join(opt.choices)}")


def _bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{raw!r} is not a boolean (use true/false, yes/no, on/off or 1/0)")


def _list(raw: str) -> tuple[str, ...]:
    # As oslo.config: one trailing comma is tolerated, inner empty items are kept.
    text = raw.strip().rstrip(",")
    return tuple(item.strip() for item in text.split(",")) if text else ()


def _dict(raw: str) -> dict[str, str]:
    text = raw.strip()
    out: dict[str, str] = {}
    if not text:
        return out
    for pair in text.split(","):
        key, sep, value = pair.partition(":")
        if not sep:
            raise ValueError(f"{pair.strip()!r} is not a key:value pair")
        out[key.strip()] = value.strip()
    return out


def convert(opt: Opt, raw: str) -> object:
    """Turn one raw value into the option's type, or raise :class:`ValueError`.

    Multi-valued options convert each occurrence separately; the caller gathers them.
    """
    if opt.kind is Kind.BOOL:
        return _bool(raw)
    if opt.kind in (Kind.INT, Kind.PORT, Kind.FLOAT):
        number = _number(opt, raw)
        _check_bounds(opt, number)
        return number
    if opt.kind is Kind.LIST:
        items = _list(raw)
        for item in items:
            _check_choice(opt, item)
        return items
    if opt.kind is Kind.DICT:
        return _dict(raw)
    _check_choice(opt, raw)
    return raw


def coerce(opt: Opt, value: object) -> object:
    """Validate an already-typed value (a CLI override); strings go through :func:`convert`."""
    if isinstance(value, str) and opt.kind not in (Kind.STR, Kind.MULTISTR):
        return convert(opt, value)
    expected: dict[Kind, tuple[type, ...]] = {
        Kind.STR: (str,),
        Kind.INT: (int,),
        Kind.PORT: (int,),
        Kind.FLOAT: (int, float),
        Kind.BOOL: (bool,),
        Kind.LIST: (list, tuple),
        Kind.MULTISTR: (list, tuple, str),
        Kind.DICT: (dict,),
    }
    types = expected[opt.kind]
    bad_bool = isinstance(value, bool) and opt.kind is not Kind.BOOL
    if not isinstance(value, types) or bad_bool:
        raise ValueError(f"{value!r} is not a valid {opt.kind} value")
    if isinstance(value, list | tuple | str) and opt.kind in (Kind.LIST, Kind.MULTISTR):
        items = (value,) if isinstance(value, str) else tuple(value)
        for item in items:
            _check_choice(opt, str(item))
        return tuple(str(item) for item in items)
    if isinstance(value, str):
        _check_choice(opt, value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_bounds(opt, value)
        if opt.kind is Kind.FLOAT:
            return float(value)
    return dict(value) if isinstance(value, dict) else value
