"""Build the disk-image corpus: with ``qemu-img`` where it can make the case, by hand where not.

Each :class:`Case` says what a server must do with the bytes when they arrive declared as
``disk_format`` in a ``bare`` container: accept them with ``virtual_size``, or refuse them
(415) and keep nothing. Expected virtual sizes of qemu-made images come from
``qemu-img info``, an independent reader of the same headers.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

MiB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    disk_format: str
    safe: bool
    build: Callable[[Path], tuple[bytes, int | None]]
    """Returns the bytes and, for a safe case, the expected ``virtual_size``."""


def qemu_img() -> str:
    found = shutil.which("qemu-img")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("qemu-img is missing (Debian package qemu-utils); .ci/run installs it")
        pytest.skip("qemu-img is missing: apt-get install qemu-utils")
    return found


def _qemu(work: Path, name: str, fmt: str, size: str, *options: str) -> Path:
    """``qemu-img create``, tried up to six times: its luks PBKDF benchmark fails now and
    then ("Unable to get accurate CPU usage"; three tries once all failed in CI)."""
    path = work / name
    command = [qemu_img(), "create", "-q", "-f", fmt, *options, str(path), size]
    attempts = 6
    for _ in range(attempts):
        done = subprocess.run(command, cwd=work, capture_output=True, text=True)
        if done.returncode == 0:
            return path
        path.unlink(missing_ok=True)
    raise AssertionError(f"qemu-img create failed {attempts} times: {done.stderr.strip()}")


def _virtual_size(path: Path) -> int:
    out = subprocess.run(
        [qemu_img(), "info", "--output=json", str(path)], check=True, capture_output=True
    ).stdout
    size: int = json.loads(out)["virtual-size"]
    return size


def _made(
    fmt: str, size: str, *options: str, suffix: str = ""
) -> Callable[[Path], tuple[bytes, int]]:
    def build(work: Path) -> tuple[bytes, int]:
        path = _qemu(work, f"{fmt}{suffix}.img", fmt, size, *options)
        return path.read_bytes(), _virtual_size(path)

    return build


def _made_unsafe(
    fmt: str, size: str, *options: str, name: str
) -> Callable[[Path], tuple[bytes, None]]:
    def build(work: Path) -> tuple[bytes, None]:
        return _qemu(work, name, fmt, size, *options).read_bytes(), None

    return build


def iso(blocks: int = 64) -> bytes:
    """A primary volume descriptor at sector 16 and a set terminator: all an inspector reads."""
    data = bytearray(blocks * 2048)
    for offset, kind in ((0x8000, 1), (0x8800, 255)):
        data[offset] = kind
        data[offset + 1 : offset + 7] = b"CD001\x01"
    pvd = 0x8000
    data[pvd + 80 : pvd + 88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
    data[pvd + 128 : pvd + 132] = struct.pack("<H", 2048) + struct.pack(">H", 2048)
    return bytes(data)


def gpt(sectors: int = 2048) -> bytes:
    """A protective MBR (one 0xEE partition from LBA 1) and a GPT header signature."""
    data = bytearray(sectors * 512)
    entry = 446
    data[entry + 1 : entry + 4] = b"\x00\x02\x00"  # start CHS
    data[entry + 4] = 0xEE
    data[entry + 5 : entry + 8] = b"\xff\xff\xff"  # end CHS
    data[entry + 8 : entry + 16] = struct.pack("<II", 1, sectors - 1)
    data[510:512] = b"\x55\xaa"
    data[512:520] = b"EFI PART"
    return bytes(data)


def _iso(work: Path) -> tuple[bytes, int]:
    return iso(), 64 * 2048


def _gpt(work: Path) -> tuple[bytes, int]:
    return gpt(), 2048 * 512


def _qcow2_unknown_feature(work: Path) -> tuple[bytes, None]:
    data = bytearray(_qemu(work, "feature.qcow2", "qcow2", "64M").read_bytes())
    data[72:80] = struct.pack(">Q", 1 << 20)  # an incompatible feature no reader knows
    return bytes(data), None


def _qcow2_backing_host_file(work: Path) -> tuple[bytes, None]:
    """OSSA-2015-014: the backing file names a host path."""
    path = _qemu(work, "backing.qcow2", "qcow2", "1M", "-u", "-b", "/etc/passwd", "-F", "raw")
    return path.read_bytes(), None


def _qcow2_iso_polyglot(work: Path) -> tuple[bytes, None]:
    """A qcow2 that is also an ISO: two readers would see two different disks."""
    data = bytearray(_qemu(work, "poly.qcow2", "qcow2", "64M").read_bytes())
    data.extend(bytes(max(0, 0x9000 - len(data))))
    data[0x8000:0x9000] = iso()[0x8000:0x9000]
    return bytes(data), None


def _vmdk_extent_outside(work: Path) -> tuple[bytes, None]:
    """CVE-2022-47951: a monolithicSparse whose descriptor adds an extent naming a host file."""
    data = bytearray(_qemu(work, "extent.vmdk", "vmdk", "32M").read_bytes())
    start = data.index(b"RW ")
    end = data.index(b"\n", start) + 1
    hostile = b'RW 2048 FLAT "/etc/passwd" 0\n'
    data[end:end] = hostile
    del data[-len(hostile) :]  # keep the length, the padding after the descriptor shrinks
    return bytes(data), None


def _luks2(work: Path) -> tuple[bytes, None]:
    data = bytearray(_luks_v1(work)[0])
    data[6:8] = struct.pack(">H", 2)
    return bytes(data), None


def _luks_v1(work: Path) -> tuple[bytes, int]:
    return _luks_v1_once()


@functools.cache
def _luks_v1_once() -> tuple[bytes, int]:
    """Made once per process and reused by every test that needs it: qemu-img's PBKDF
    benchmark fails whenever its first timing reads no thread CPU at all (the clock's
    granularity), so each image it makes is another chance of a spurious failure."""
    with tempfile.TemporaryDirectory() as work:
        return _luks_v1_in(Path(work))


def _luks_v1_in(work: Path) -> tuple[bytes, int]:
    path = _qemu(
        work,
        "disk.luks",
        "luks",
        "1M",
        "--object",
        "secret,id=s0,data=pw",
        "-o",
        "key-secret=s0,iter-time=100",
    )
    return path.read_bytes(), _virtual_size(path)


def _raw(work: Path) -> tuple[bytes, int]:
    data = os.urandom(MiB)
    return data, len(data)


SAFE = [
    Case("raw", "raw", True, _raw),
    Case("qcow2 v3", "qcow2", True, _made("qcow2", "64M")),
    Case("qcow2 v2", "qcow2", True, _made("qcow2", "64M", "-o", "compat=0.10", suffix="v2")),
    Case("vmdk monolithicSparse", "vmdk", True, _made("vmdk", "32M")),
    Case(
        "vmdk streamOptimized",
        "vmdk",
        True,
        _made("vmdk", "32M", "-o", "subformat=streamOptimized", suffix="stream"),
    ),
    Case("vhd", "vhd", True, _made("vpc", "32M")),
    Case("vhdx", "vhdx", True, _made("vhdx", "32M")),
    Case("vdi", "vdi", True, _made("vdi", "32M")),
    Case("luks v1", "luks", True, _luks_v1),
    Case("iso", "iso", True, _iso),
    Case("gpt", "gpt", True, _gpt),
]

UNSAFE = [
    Case("qcow2 with a backing file", "qcow2", False, _qcow2_backing_host_file),
    Case(
        "qcow2 with an external data file",
        "qcow2",
        False,
        _made_unsafe("qcow2", "64M", "-o", "data_file=external.raw", name="datafile.qcow2"),
    ),
    Case("qcow2 with unknown incompatible features", "qcow2", False, _qcow2_unknown_feature),
    Case("qcow2 that is also an iso", "qcow2", False, _qcow2_iso_polyglot),
    Case(
        "vmdk monolithicFlat descriptor",
        "vmdk",
        False,
        _made_unsafe("vmdk", "32M", "-o", "subformat=monolithicFlat", name="flat.vmdk"),
    ),
    Case(
        "vmdk twoGbMaxExtentSparse descriptor",
        "vmdk",
        False,
        _made_unsafe("vmdk", "32M", "-o", "subformat=twoGbMaxExtentSparse", name="split.vmdk"),
    ),
    Case("vmdk with an extent outside the image", "vmdk", False, _vmdk_extent_outside),
    Case("qed (banned)", "qed", False, _made_unsafe("qed", "32M", name="disk.qed")),
    Case("luks v2", "luks", False, _luks2),
    Case("qcow2 declared raw, with a backing file", "raw", False, _qcow2_backing_host_file),
    Case("qcow2 declared vmdk", "vmdk", False, _made_unsafe("qcow2", "8M", name="mismatch.qcow2")),
]

ALL = SAFE + UNSAFE


class Corpus:
    """Builds each case once per test session, in its own directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, tuple[bytes, int | None]] = {}

    def get(self, case: Case) -> tuple[bytes, int | None]:
        if case.name not in self._built:
            work = self.root / case.name.replace(" ", "_")
            work.mkdir(parents=True, exist_ok=True)
            self._built[case.name] = case.build(work)
        return self._built[case.name]
