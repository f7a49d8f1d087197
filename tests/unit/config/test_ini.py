"""The INI reader keeps oslo.config's dialect (style.md note 1), line numbers included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spyglass.config.ini import config_dir_files, parse_ini, read_ini
from spyglass.errors import ConfigError


def values(text: str, section: str, key: str) -> list[str]:
    return [e.value for e in parse_ini(text, "t.conf").get(section, key)]


def test_default_does_not_leak_into_other_sections() -> None:
    text = "[DEFAULT]\ndebug = true\n[fast]\nfilesystem_store_datadir = /a\n"
    ini = parse_ini(text, "t.conf")
    assert ini.get("fast", "debug") == []
    assert values(text, "DEFAULT", "debug") == ["true"]


def test_percent_and_dollar_are_not_interpolated() -> None:
    text = "[database]\nconnection = mysql://u:p%40ss@127.0.0.1/glance\nx = %(y)s $z\n"
    assert values(text, "database", "connection") == ["mysql://u:p%40ss@127.0.0.1/glance"]
    assert values(text, "database", "x") == ["%(y)s $z"]


def test_repeated_keys_are_all_kept_in_order() -> None:
    text = (
        "[glance_store]\n"
        "filesystem_store_datadirs = /a:100\n"
        "filesystem_store_datadirs = /b:200\n"
        "[DEFAULT]\n"
        "[glance_store]\n"
        "filesystem_store_datadirs = /c\n"
    )
    assert values(text, "glance_store", "filesystem_store_datadirs") == ["/a:100", "/b:200", "/c"]


def test_separators_comments_empty_values_and_quotes() -> None:
    text = (
        "# comment\n"
        "; another\n"
        "[DEFAULT]\n"
        "a = 1\n"
        "b: 2\n"
        "c=\n"
        "d = x=y:z\n"
        "e: http://h:80/\n"
        "f = 'quoted'\n"
        'g = "half\n'
        "h = value # not a comment\n"
    )
    ini = parse_ini(text, "t.conf")
    got = {e.key: e.value for e in ini.entries}
    assert got == {
        "a": "1",
        "b": "2",
        "c": "",
        "d": "x=y:z",
        "e": "http://h:80/",
        "f": "quoted",
        "g": '"half',
        "h": "value # not a comment",
    }


def test_continuation_lines_join_with_newlines_and_keep_the_first_line_number() -> None:
    text = "[DEFAULT]\n\nkey = first\n  second\n\tthird\n\nother = 1\n"
    (entry, other) = parse_ini(text, "t.conf").entries
    assert entry.value == "first\nsecond\nthird"
    assert entry.where == "t.conf:3"
    assert other.where == "t.conf:7"


def test_section_names_are_case_insensitive_except_default() -> None:
    text = "[Glance_Store]\na = 1\n[default]\nb = 2\n[DEFAULT]\nc = 3\n"
    ini = parse_ini(text, "t.conf")
    assert values(text, "glance_store", "a") == ["1"]
    assert ini.entries[0].section == "Glance_Store"  # messages show the file's spelling
    assert values(text, "DEFAULT", "b") == []
    assert values(text, "default", "b") == ["2"]
    assert values(text, "DEFAULT", "c") == ["3"]


def test_indented_comment_without_a_value_to_continue_is_ignored() -> None:
    text = "[DEFAULT]\n    # indented comment\na = 1\n"
    assert values(text, "DEFAULT", "a") == ["1"]


@pytest.mark.parametrize(
    ("text", "lineno", "line"),
    [
        ("[DEFAULT]\njust words\n", 2, "just words"),
        ("key = value\n", 1, "key = value"),
        ("# c\n\n[DEFAULT\na = 1\n", 3, "[DEFAULT"),
        ("[]\n", 1, "[]"),
        ("[DEFAULT]\n= value\n", 2, "= value"),
        ("[DEFAULT]\n# c\n  orphan continuation\n", 3, "  orphan continuation"),
        ("[DEFAULT]\n[x]\n  orphan\n", 3, "  orphan"),
    ],
)
def test_malformed_lines_name_file_line_and_text(text: str, lineno: int, line: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_ini(text, "glance-api.conf")
    assert str(err.value) == f"glance-api.conf:{lineno}: cannot parse line: {line!r}"


def test_read_ini_reports_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    with pytest.raises(ConfigError, match=r"nope\.conf: config file not found$"):
        read_ini(missing)
    with pytest.raises(ConfigError, match=r": cannot read config file: Is a directory$"):
        read_ini(tmp_path)
    binary = tmp_path / "bin.conf"
    binary.write_bytes(b"[DEFAULT]\na = \xff\n")
    with pytest.raises(ConfigError, match=r"bin\.conf: config file is not valid UTF-8"):
        read_ini(binary)


def test_read_ini_uses_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("etc").mkdir()
    Path("etc/a.conf").write_text("[DEFAULT]\nbad line\n")
    with pytest.raises(ConfigError, match=r"^etc/a\.conf:2: cannot parse line: 'bad line'$"):
        read_ini(Path("etc/a.conf"))


def test_config_dir_lists_conf_files_sorted_without_hidden_ones(tmp_path: Path) -> None:
    for name in ["20-b.conf", "10-a.conf", ".hidden.conf", "notes.txt", "03.conf"]:
        (tmp_path / name).write_text("[DEFAULT]\n")
    names = [p.name for p in config_dir_files(tmp_path)]
    assert names == ["03.conf", "10-a.conf", "20-b.conf"]


def test_config_dir_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"conf\.d: config directory not found$"):
        config_dir_files(tmp_path / "conf.d")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_config_dir_unreadable_is_an_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        with pytest.raises(ConfigError, match=r"cannot read config directory"):
            config_dir_files(locked)
    finally:
        locked.chmod(0o700)
