"""The filesystem store: a local directory; its "own client" is a plain file copy."""

from __future__ import annotations

import shutil
from pathlib import Path

from store_backends import StoreBackend, UpstreamStore

READ_SIZE = 1024 * 1024


class Filesystem(StoreBackend):
    name = "filesystem"
    own_client = "file copy (shutil.copyfile), read(1 MiB) loop"

    def __init__(self) -> None:
        self.directory: Path | None = None

    def spyglass_lines(self, work: Path) -> list[str]:
        return [
            "[glance_store]",
            "default_store = file",
            f"filesystem_store_datadir = {work}/images",
        ]

    def upstream_store(self, work: Path) -> UpstreamStore:
        return UpstreamStore(
            backends="bench:file",
            default="bench",
            sections=f"[bench]\nfilesystem_store_datadir = {work}/upstream-images\n",
        )

    def _path(self, name: str) -> Path:
        if self.directory is None:
            raise RuntimeError("own_upload first")
        return self.directory / name

    def own_upload(self, source: Path, name: str) -> None:
        self.directory = source.parent / "own-client"
        self.directory.mkdir(exist_ok=True)
        shutil.copyfile(source, self._path(name))  # no fsync: neither store syncs

    def own_download(self, name: str) -> int:
        read = 0
        with self._path(name).open("rb", buffering=0) as stored:
            while chunk := stored.read(READ_SIZE):
                read += len(chunk)
        return read

    def own_delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


BACKEND = Filesystem()
