"""The filesystem store: a local directory; its "own client" is a plain file copy."""

from __future__ import annotations

import shutil
from pathlib import Path

from store_backends import StoreBackend, UpstreamStore

READ_SIZE = 1024 * 1024


class Filesystem(StoreBackend):
    name = "filesystem"
    own_client = "file copy (shutil.copyfile), read(1 MiB) loop"
    remark = (
        "filesystem: the own client is a kernel copy (`copy_file_range`/`sendfile`) and a "
        "read loop from the page cache, with no HTTP, no hashing and no format inspection. "
        'In the profile ("Stores: where the time goes") half of Spyglass\'s upload CPU is '
        "MD5 + SHA-512, which the copy does not compute, and most of the rest is the socket "
        "receive: on two cores shared with the client no HTTP server reaches 90% of the "
        "copy. Downloads go out by `sendfile` to a client on the same two cores, while the "
        "read loop moves pages at memory speed."
    )

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
