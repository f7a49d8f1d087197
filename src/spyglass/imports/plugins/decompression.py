"""``image_decompression``: staged data that is a gzip, zip or LHA archive is replaced
by what it holds (upstream's plugin, with the same magic numbers).

Images of ``container_format`` ``compressed`` are left alone: their users want
the archive. The output is capped at ``image_size_cap`` while it is written,
so a small archive cannot fill the staging disk (a "zip bomb").
"""

from __future__ import annotations

import gzip
import importlib
import os
import zipfile
from pathlib import Path
from typing import IO, Any, ClassVar

import anyio.to_thread

from spyglass.config import Settings
from spyglass.imports.plugins.base import ImportFailed, ImportPlugin, PluginJob

CHUNK = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
LHA_MAGIC = b"-lh"
"""At offset 2 of an LHA header ("-lh5-" and its kin)."""


def kind_of(header: bytes) -> str | None:
    if header.startswith(GZIP_MAGIC):
        return "gzip"
    if header.startswith(ZIP_MAGIC):
        return "zip"
    if header[2:5] == LHA_MAGIC:
        return "lha"
    return None


def _copy_capped(source: IO[bytes], target: Path, cap: int) -> None:
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > cap:
                raise ImportFailed(
                    f"The decompressed image is larger than the size limit of {cap} bytes."
                )
            out.write(chunk)


def _open_member(path: Path, kind: str, cap: int) -> Any:
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "zip":
        archive = zipfile.ZipFile(path)
        names = [i for i in archive.infolist() if not i.is_dir()]
        if len(names) != 1:
            raise ImportFailed(f"The zip archive holds {len(names)} files; it must hold one.")
        return archive.open(names[0])
    try:
        lhafile = importlib.import_module("lhafile")
    except ImportError:
        raise ImportFailed(
            "The image is an LHA archive, and LHA support (the lhafile package) is not "
            "installed on this server."
        ) from None
    archive = lhafile.LhaFile(str(path))
    members = archive.infolist()
    if len(members) != 1:
        raise ImportFailed(f"The LHA archive holds {len(members)} files; it must hold one.")
    if members[0].file_size > cap:  # lhafile reads a member whole: refuse before reading
        raise ImportFailed(f"The decompressed image is larger than the size limit of {cap} bytes.")
    return _BytesReader(archive.read(members[0].filename))


class _BytesReader:
    """lhafile reads a member whole; this gives it the file interface of the others."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        piece = self.data[self.offset : end]
        self.offset += len(piece)
        return piece

    def __enter__(self) -> _BytesReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.data = b""


def decompress(path: Path, cap: int) -> str | None:
    """Replace ``path`` by its archive's content; the archive's kind, or None if it is none."""
    with path.open("rb") as staged:
        kind = kind_of(staged.read(8))
    if kind is None:
        return None
    target = path.with_name(f".{path.name}.decompressed")
    try:
        with _open_member(path, kind, cap) as member:
            _copy_capped(member, target, cap)
        os.replace(target, path)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ImportFailed(f"The {kind} archive could not be decompressed: {exc}") from exc
    finally:
        target.unlink(missing_ok=True)
    return kind


class Decompression:
    name: ClassVar[str] = "image_decompression"
    changes_data: ClassVar[bool] = True

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportPlugin:
        return cls()

    async def run(self, job: PluginJob) -> None:
        if job.image.container_format == "compressed":
            return
        await anyio.to_thread.run_sync(decompress, job.path, job.size_cap)
