"""Import plugins on files: decompression's kinds and cap, metadata injection's roles,
conversion's safety checks, and how ``image_import_plugins`` is resolved."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from spyglass.config.settings import load_settings
from spyglass.domain.image import Image
from spyglass.errors import ConfigError
from spyglass.imports.job import ImportJob, shown_input, task_input
from spyglass.imports.plugins.base import ImportFailed, PluginJob, load_plugins
from spyglass.imports.plugins.conversion import check_safe
from spyglass.imports.plugins.decompression import decompress, kind_of
from spyglass.imports.plugins.inject_metadata import InjectMetadata
from spyglass.timeutils import utcnow
from tests.lha import lha_archive


def _image(**fields: object) -> Image:
    now = utcnow()
    return Image(id="i", created_at=now, updated_at=now, **fields)  # type: ignore[arg-type]


def test_kinds_by_magic() -> None:
    assert kind_of(gzip.compress(b"x")) == "gzip"
    assert kind_of(b"PK\x03\x04rest") == "zip"
    assert kind_of(b"\x00\x00-lh5-") == "lha"
    assert kind_of(b"QFI\xfb") is None


def test_gzip_is_replaced_by_its_content(tmp_path: Path) -> None:
    path = tmp_path / "staged"
    path.write_bytes(gzip.compress(b"disk" * 1000))
    assert decompress(path, cap=10_000) == "gzip"
    assert path.read_bytes() == b"disk" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["staged"]


def test_plain_data_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "staged"
    path.write_bytes(b"raw bytes")
    assert decompress(path, cap=10) is None
    assert path.read_bytes() == b"raw bytes"


def test_a_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "staged"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("disk", b"\0" * 1_000_000)
    with pytest.raises(ImportFailed, match="larger than the size limit"):
        decompress(path, cap=1000)
    assert [p.name for p in tmp_path.iterdir()] == ["staged"]  # nothing half-written kept


async def test_injection_skips_ignored_roles(tmp_path: Path) -> None:
    plugin = InjectMetadata({"a": "1"}, frozenset({"admin"}))
    image = _image()
    await plugin.run(PluginJob(image, tmp_path, frozenset({"Admin"}), 10))
    assert image.properties == {}
    await plugin.run(PluginJob(image, tmp_path, frozenset({"member"}), 10))
    assert image.properties == {"a": "1"}


def test_conversion_refuses_backing_and_data_files() -> None:
    check_safe({"format": "qcow2"})
    with pytest.raises(ImportFailed, match="backing file"):
        check_safe({"backing-filename": "/etc/shadow"})
    with pytest.raises(ImportFailed, match="external data file"):
        check_safe({"format-specific": {"data": {"data-file": "/dev/sda"}}})


def test_plugins_are_found_by_entry_point(tmp_path: Path) -> None:
    conf = tmp_path / "a.conf"
    conf.write_text("[image_import_opts]\nimage_import_plugins = inject_image_metadata\n")
    assert [p.name for p in load_plugins(load_settings([conf]))] == ["inject_image_metadata"]
    conf.write_text("[image_import_opts]\nimage_import_plugins = no_such_plugin\n")
    with pytest.raises(ConfigError, match="no_such_plugin"):
        load_plugins(load_settings([conf]))


def test_task_input_keeps_roles_out_of_sight() -> None:
    body = {"method": {"name": "web-download", "uri": "http://x/y"}}
    data = task_input("img", body, ["fast"], frozenset({"member"}))
    job = ImportJob.from_input(data)
    assert (job.method, job.uri, job.stores, job.roles) == (
        "web-download", "http://x/y", ("fast",), frozenset({"member"}),
    )  # fmt: skip
    assert shown_input(data) == {"image_id": "img", "import_req": body, "backend": ["fast"]}


def test_lha_is_replaced_by_its_content(tmp_path: Path) -> None:
    pytest.importorskip("lhafile", reason="lhafile is not installed (pip install -e '.[lha]')")
    path = tmp_path / "staged"
    path.write_bytes(lha_archive((b"disk.raw", b"lha!" * 500)))
    assert decompress(path, cap=10_000) == "lha"
    assert path.read_bytes() == b"lha!" * 500
    path.write_bytes(lha_archive((b"disk.raw", b"x" * 5000)))
    with pytest.raises(ImportFailed, match="larger than the size limit"):
        decompress(path, cap=1000)
    path.write_bytes(lha_archive((b"a", b"1"), (b"b", b"2")))
    with pytest.raises(ImportFailed, match="holds 2 files"):
        decompress(path, cap=1000)


def test_shown_input_hides_credentials_in_urls() -> None:
    body = {"method": {"name": "web-download", "uri": "http://me:pw@example.com/x.img"}}
    shown = shown_input(task_input("img", body, ["fast"], frozenset()))
    assert shown["import_req"]["method"]["uri"] == "http://example.com/x.img"
    assert body["method"]["uri"] == "http://me:pw@example.com/x.img"  # the task keeps it
    legacy = shown_input({"import_from": "https://u:p@host/a", "image_properties": {}})
    assert legacy["import_from"] == "https://host/a"
