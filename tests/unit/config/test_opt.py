"""Text-to-value conversion follows oslo.config's types."""

from __future__ import annotations

import pytest

from spyglass.config.opt import (
    Kind,
    bool_opt,
    coerce,
    convert,
    dict_opt,
    float_opt,
    in_section,
    int_opt,
    is_unset,
    list_opt,
    port_opt,
    str_opt,
)

BOOL = bool_opt("b", False, "")
INT = int_opt("i", 0, "", min=-5, max=10)
PORT = port_opt("p", 1, "")
LIST = list_opt("l", (), "")
DICT = dict_opt("d", None, "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("OFF", False),
        ("0", False),
        (" true ", True),
    ],
)
def test_bool_spellings(raw: str, expected: bool) -> None:
    assert convert(BOOL, raw) is expected


@pytest.mark.parametrize("raw", ["maybe", "t", "2", "y", "enabled"])
def test_bool_rejects_other_words(raw: str) -> None:
    with pytest.raises(ValueError, match=r"is not a boolean \(use true/false"):
        convert(BOOL, raw)


def test_int_parses_and_bounds() -> None:
    assert convert(INT, " 7 ") == 7
    assert convert(INT, "-5") == -5
    with pytest.raises(ValueError, match=r"^'abc' is not an integer$"):
        convert(INT, "abc")
    with pytest.raises(ValueError, match=r"^'1.5' is not an integer$"):
        convert(INT, "1.5")
    with pytest.raises(ValueError, match=r"^11 is above the maximum 10$"):
        convert(INT, "11")
    with pytest.raises(ValueError, match=r"^-6 is below the minimum -5$"):
        convert(INT, "-6")


def test_port_range() -> None:
    assert convert(PORT, "0") == 0
    assert convert(PORT, "65535") == 65535
    with pytest.raises(ValueError, match="above the maximum 65535"):
        convert(PORT, "65536")
    with pytest.raises(ValueError, match="below the minimum 0"):
        convert(PORT, "-1")


def test_float() -> None:
    opt = float_opt("f", None, "")
    assert convert(opt, "2.5") == 2.5
    with pytest.raises(ValueError, match="is not a number"):
        convert(opt, "x")
    with pytest.raises(ValueError, match="not a finite number"):
        convert(opt, "nan")


def test_empty_numbers_and_bools_are_unset_but_empty_strings_are_values() -> None:
    assert is_unset(INT, "  ")
    assert is_unset(BOOL, "")
    assert not is_unset(str_opt("s", "x", ""), "")
    assert not is_unset(LIST, "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a,b", ("a", "b")),
        (" a , b ,c ", ("a", "b", "c")),
        ("a,b,", ("a", "b")),
        ("", ()),
        ("   ", ()),
        ("a,,b", ("a", "", "b")),
        ("glance.store.filesystem.Store,", ("glance.store.filesystem.Store",)),
    ],
)
def test_list(raw: str, expected: tuple[str, ...]) -> None:
    assert convert(LIST, raw) == expected


def test_list_item_choices() -> None:
    opt = list_opt("m", (), "", choices=("glance-direct", "web-download"))
    assert convert(opt, "web-download") == ("web-download",)
    with pytest.raises(ValueError, match=r"^'copy' is not one of: glance-direct, web-download$"):
        convert(opt, "glance-direct, copy")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fast:file,cheap:rbd", {"fast": "file", "cheap": "rbd"}),
        (" fast : file , cheap:rbd ", {"fast": "file", "cheap": "rbd"}),
        ("", {}),
        ("url:http://x:80/", {"url": "http://x:80/"}),
        ("a:1,a:2", {"a": "2"}),
        ("a:", {"a": ""}),
    ],
)
def test_dict(raw: str, expected: dict[str, str]) -> None:
    assert convert(DICT, raw) == expected


def test_dict_rejects_pairs_without_colon() -> None:
    with pytest.raises(ValueError, match=r"^'cheap' is not a key:value pair$"):
        convert(DICT, "fast:file,cheap")


def test_string_choices() -> None:
    opt = str_opt("s", "a", "", choices=("a", "b"))
    assert convert(opt, "b") == "b"
    with pytest.raises(ValueError, match=r"^'c' is not one of: a, b$"):
        convert(opt, "c")


def test_coerce_accepts_typed_values_and_converts_strings() -> None:
    assert coerce(PORT, 8080) == 8080
    assert coerce(PORT, "8080") == 8080
    assert coerce(BOOL, True) is True
    assert coerce(LIST, ["a", "b"]) == ("a", "b")
    assert coerce(DICT, {"a": "file"}) == {"a": "file"}
    assert coerce(float_opt("f", 0.0, ""), 2) == 2.0
    with pytest.raises(ValueError, match="is not a valid port value"):
        coerce(PORT, True)
    with pytest.raises(ValueError, match="above the maximum"):
        coerce(PORT, 70000)
    with pytest.raises(ValueError, match="is not a valid str value"):
        coerce(str_opt("s", None, ""), 3)


def test_in_section_fills_deprecated_sections_and_adds_the_also_section() -> None:
    (opt,) = in_section(
        "glance_store", [str_opt("x", None, "", deprecated=[("", "old")])], also="DEFAULT"
    )
    assert opt.key == ("glance_store", "x")
    assert opt.names == (("glance_store", "x"), ("glance_store", "old"), ("DEFAULT", "x"))
    assert opt.kind is Kind.STR
