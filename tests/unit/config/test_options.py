"""The option table is consistent, documented, and covers the files operators have."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from spyglass.config import options
from spyglass.config.ini import read_ini
from spyglass.config.opt import Kind, convert
from spyglass.config.settings import FIELDS, Settings


def test_every_option_has_a_one_line_help_text() -> None:
    for opt in options.OPTIONS:
        assert opt.help.strip(), f"[{opt.section}] {opt.name} has no help"
        assert "\n" not in opt.help
        assert opt.help.endswith("."), f"[{opt.section}] {opt.name}: help is not a sentence"


def test_defaults_have_the_declared_type_and_pass_their_own_checks() -> None:
    python_type: dict[Kind, type | tuple[type, ...]] = {
        Kind.STR: str,
        Kind.INT: int,
        Kind.PORT: int,
        Kind.FLOAT: (int, float),
        Kind.BOOL: bool,
        Kind.LIST: tuple,
        Kind.MULTISTR: tuple,
        Kind.DICT: dict,
    }
    for opt in options.OPTIONS:
        if opt.default is None:
            continue
        assert isinstance(opt.default, python_type[opt.kind]), opt.key
        if opt.kind in (Kind.INT, Kind.PORT) and not isinstance(opt.default, bool):
            assert convert(opt, str(opt.default)) == opt.default, opt.key
        if opt.kind is Kind.STR and opt.choices:
            assert opt.default in opt.choices, opt.key


def test_lookup_by_current_and_deprecated_spellings() -> None:
    connection = options.get("database", "connection")
    assert options.find("DEFAULT", "sql_connection") is connection
    assert options.find("DATABASE", "sql_connection") is connection
    assert options.find("Database", "connection") is connection
    datadir = options.get("glance_store", "filesystem_store_datadir")
    assert options.find("DEFAULT", "filesystem_store_datadir") is datadir
    assert options.find("default", "filesystem_store_datadir") is None
    assert options.find("DEFAULT", "no_such_option") is None
    with pytest.raises(KeyError):
        options.get("DEFAULT", "sql_connection")


def test_store_options_per_driver() -> None:
    file_names = {o.name for o in options.store_options("file")}
    assert {"filesystem_store_datadir", "filesystem_store_datadirs", "weight"} <= file_names
    assert "rbd_store_pool" not in file_names
    assert "stores" not in file_names
    assert {o.driver for o in options.store_options("rbd")} == {"rbd", "*"}
    assert all(d in options.STORE_DRIVERS for d in {"file", "http", "rbd", "s3", "swift"})


def test_settings_fields_map_to_options_with_the_same_defaults() -> None:
    attrs = {f.name: f for f in fields(Settings) if not f.name.startswith("_")}
    assert set(attrs) - set(FIELDS) == {"sources"}
    assert set(FIELDS) <= set(attrs)
    for attr, (section, name) in FIELDS.items():
        opt = options.get(section, name)
        default = attrs[attr].default
        if attr == "notifier_strategy":
            assert (opt.default, default) == ("default", "noop")
        else:
            assert default == opt.default, attr


def test_secrets_are_marked() -> None:
    for section, name in [
        ("database", "connection"),
        ("glance_store", "swift_store_key"),
        ("glance_store", "s3_store_secret_key"),
        ("keystone_authtoken", "password"),
        ("DEFAULT", "transport_url"),
    ]:
        assert options.get(section, name).secret, name


def _commented_keys(path: Path) -> set[tuple[str, str]]:
    """Options named in a sample file, including commented-out ``#name = value`` lines."""
    keys: set[tuple[str, str]] = set()
    section = None
    for line in path.read_text().splitlines():
        if m := re.match(r"^\[([^\]]+)\]", line):
            section = m.group(1)
        elif section and (m := re.match(r"^#?\s?([a-z][a-z0-9_]*)\s*[=:]", line)):
            keys.add((section, m.group(1)))
    return keys


def test_every_option_of_the_fixture_files_is_declared(seed_files: tuple[Path, Path]) -> None:
    for path in seed_files:
        name = path.name
        for entry in read_ini(path).entries:
            assert options.find(entry.section, entry.key), f"{entry.where}: {entry.key}"
        # Commented-out sample lines too: an operator may uncomment any of them.
        for section, key in _commented_keys(path):
            assert options.find(section, key), f"{name}: [{section}] {key}"
