"""The sample files in etc/: generated from the declarations, complete, and true to defaults."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from spyglass.config import load_settings, options
from spyglass.config.ini import read_ini
from spyglass.config.sample import SERVICES, options_for, render, render_value
from tests.unit.config.seed import ETC

_COMMENTED = re.compile(r"^#([a-z][a-z0-9_]*) = ?(.*)$")


def _commented_options(text: str) -> dict[tuple[str, str], str]:
    """(section, name) -> the default written on its ``#name = value`` line."""
    found: dict[tuple[str, str], str] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif match := _COMMENTED.match(line):
            found[(section, match.group(1))] = match.group(2)
    return found


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_sample_in_etc_is_up_to_date(service: str) -> None:
    path = ETC / f"glance-{service}.conf"
    assert path.read_text(encoding="utf-8") == render(service), (
        f"{path.name} is out of date: run `make sample`"
    )


def test_the_api_sample_names_every_declared_option_once() -> None:
    written = _commented_options(render("api"))
    assert set(written) == {o.key for o in options.OPTIONS}
    assert written[("database", "connection")] == "<None>"
    assert written[("DEFAULT", "bind_port")] == "9292"
    assert written[("image_format", "disk_formats")].startswith("ami,ari,aki,")


def test_the_registry_sample_holds_the_registry_service_options() -> None:
    text = render("registry")
    written = _commented_options(text)
    assert written[("DEFAULT", "bind_port")] == "9191"
    assert ("database", "connection") in written
    assert ("DEFAULT", "debug") in written
    assert ("keystone_authtoken", "auth_url") in written
    assert not any(section == "glance_store" for section, _ in written)
    assert ("DEFAULT", "image_size_cap") not in written
    assert "# Also read as: [DEFAULT] sql_connection" in text


def test_each_option_says_its_type_bounds_and_choices() -> None:
    text = render("api")
    assert "# Largest image accepted, in bytes. (integer value; from 1 to " in text
    assert "(port value; from 0 to 65535)" in text
    assert "one of: location_order, store_type)" in text
    assert "# SQLAlchemy URL of the database. (string value; secret)" in text


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_uncommented_samples_load_silently_to_the_same_values(
    service: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every line an operator may uncomment must parse and mean the default it shows.
    lines = []
    for line in render(service).splitlines():
        match = _COMMENTED.match(line)
        keep = match and match.group(2) not in ("<None>", "")
        lines.append(line[1:] if keep else line)
    path = tmp_path / f"glance-{service}.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_ini(path).entries, "nothing was uncommented"
    with caplog.at_level(logging.INFO, logger="spyglass.config"):
        settings = load_settings([path])
    assert caplog.records == []
    for opt in options_for(service):
        expected = 9191 if opt.key == ("DEFAULT", "bind_port") and service == "registry" else None
        value = settings.option(opt.section, opt.name)
        if expected is not None:
            assert value == expected
        elif opt.key == ("DEFAULT", "notifier_strategy"):
            assert value == "noop"  # Settings reports the meaning of upstream's "default"
        else:
            assert value == opt.default, opt.key


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "<None>"),
        (True, "true"),
        (False, "false"),
        (("a", "b"), "a,b"),
        ({"fast": "file", "cheap": "rbd"}, "fast:file,cheap:rbd"),
        ((), ""),
        (8, "8"),
    ],
)
def test_values_are_written_as_a_file_would_spell_them(value: object, text: str) -> None:
    assert render_value(value) == text


def test_an_unknown_service_has_no_sample() -> None:
    with pytest.raises(KeyError):
        render("compute")
