"""``spyglass store check``: one line per store, non-zero exit status when one fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spyglass.cli.store import _check_all
from spyglass.stores.base import ByteRange, ReadResult
from spyglass.stores.filesystem import FilesystemStore
from spyglass.stores.registry import StoreSet


def _check(tmp_path: Path, conf: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "api.conf").write_text(conf)
    return subprocess.run(
        [sys.executable, "-m", "spyglass", "store", "check", "--config-file", "api.conf"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip


def test_every_store_is_probed_and_left_clean(tmp_path: Path) -> None:
    result = _check(
        tmp_path,
        "[DEFAULT]\nenabled_backends = fast:file, cheap:file\n[glance_store]\n"
        f"default_backend = cheap\n[fast]\nfilesystem_store_datadir = {tmp_path}/fast\n"
        f"[cheap]\nfilesystem_store_datadir = {tmp_path}/cheap\n",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("fast (file): ok: wrote, read back and deleted 4096 bytes in ")
    assert lines[1].startswith("cheap (file, default): ok: ")
    assert os.listdir(tmp_path / "fast") == os.listdir(tmp_path / "cheap") == []


def test_a_failing_store_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_bytes(b"")
    result = _check(
        tmp_path,
        "[DEFAULT]\nenabled_backends = good:file, bad:file\n[glance_store]\n"
        f"default_backend = good\n[good]\nfilesystem_store_datadir = {tmp_path}/good\n"
        f"[bad]\nfilesystem_store_datadir = {tmp_path}/blocker/images\n",
    )
    assert result.returncode == 1
    good, bad = result.stdout.splitlines()
    assert good.startswith("good (file, default): ok: ")
    assert bad.startswith("bad (file): FAILED: Store bad: its data directory")


def test_an_unreadable_configuration_is_status_2(tmp_path: Path) -> None:
    result = _check(tmp_path, "[DEFAULT]\nenabled_backends = x:nosuchdriver\n")
    assert result.returncode == 2
    assert result.stderr.startswith("spyglass: error: ")


class Forgetful(FilesystemStore):
    """Keeps something other than what it was given."""

    async def get(self, location: str, *, byte_range: ByteRange | None = None) -> ReadResult:
        self.path_for(location).write_bytes(b"other")
        return await super().get(location, byte_range=byte_range)


async def test_a_store_that_returns_other_bytes_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Forgetful("lossy", datadir=tmp_path / "d")
    assert await _check_all(StoreSet({"lossy": store}, "lossy"), 10.0) == 1
    out = capsys.readouterr().out
    assert out.startswith("lossy (file, default): FAILED: read back 5 bytes that differ")
    assert os.listdir(tmp_path / "d") == []
