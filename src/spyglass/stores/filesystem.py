"""Image data as files in a local directory (``filesystem_store_datadir``).

Writes go to a hidden partial file that is hard-linked into place only when
complete, so a crash or an aborted upload never leaves a file that looks like
image data, and an existing image's file is never overwritten.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Self
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from spyglass.errors import (
    BadStoreUri,
    Duplicate,
    NotFound,
    StorageFull,
    StorageWriteDenied,
    StoreMisconfigured,
    StoreUnavailable,
)
from spyglass.stores.base import (
    ByteRange,
    Capability,
    LocalFile,
    ReadResult,
    Store,
    StoredObject,
    StoreOptions,
    WriteResult,
)
from spyglass.types import ByteStream

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")


def _storage_error(exc: OSError, backend_id: str) -> Exception:
    """Map an errno to the error the API reports: 413 for full media, 503 for denied, and
    503 with ``Retry-After`` for a filesystem mounted read-only (an outage that ends when it
    is remounted). Messages name the store, never the server's paths."""
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return StorageFull("There is not enough disk space on the image storage media.")
    if exc.errno == errno.EROFS:
        return StoreUnavailable(f"Store {backend_id} is read-only: its filesystem is read-only.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StorageWriteDenied(f"Permission to write image storage media denied ({backend_id}).")
    return StoreUnavailable(f"The filesystem store failed: {exc.strerror}")


class FilesystemStore(Store):
    driver: ClassVar[str] = "file"
    schemes: ClassVar[tuple[str, ...]] = ("file", "filesystem")

    def __init__(self, backend_id: str, *, datadir: str | Path, chunk_size: int = 65536) -> None:
        super().__init__(backend_id)
        self.datadir = Path(datadir).resolve()
        self.chunk_size = chunk_size
        """``filesystem_store_chunk_size``, shown in the stores detail; reads use
        ``READ_CHUNK``, which streams faster than upstream's 64 KiB."""

    @classmethod
    def from_options(cls, backend_id: str, options: StoreOptions) -> Self:
        """``filesystem_store_datadir``, or ``images/`` under the data directory."""
        datadir = options.get("filesystem_store_datadir") or options.data_dir / "images"
        chunk_size = options.get("filesystem_store_chunk_size")
        return cls(
            backend_id,
            datadir=str(datadir),
            chunk_size=chunk_size if isinstance(chunk_size, int) else 65536,
        )

    def properties(self) -> Mapping[str, object]:
        return {
            "data_dir": str(self.datadir),
            "chunk_size": self.chunk_size,
            "thin_provisioning": False,
        }

    @property
    def capabilities(self) -> Capability:
        return Capability.READ | Capability.READ_RANGE | Capability.WRITE | Capability.DELETE

    async def open(self) -> None:
        """Create the data directory; a directory that cannot be made or written
        is a configuration the server keeps serving reads from."""
        try:
            await anyio.to_thread.run_sync(self._ready)
        except OSError as exc:
            raise StoreMisconfigured(
                f"Store {self.backend_id}: its data directory (filesystem_store_datadir) "
                f"is unusable: {exc.strerror}"
            ) from exc

    def _ready(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if not os.access(self.datadir, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    def path_for(self, location: str) -> Path:
        """The file a location names; refuses anything outside the data directory."""
        parts = urlsplit(location)
        if parts.scheme not in self.schemes or not (parts.netloc or parts.path):
            raise BadStoreUri(f"Invalid location for the filesystem store: {location!r}")
        path = Path(os.path.normpath(unquote(parts.netloc + parts.path)))  # no I/O
        if path.parent != self.datadir or not _SAFE_ID.match(path.name):
            raise BadStoreUri("Location is outside the filesystem store's data directory.")
        return path

    def image_of(self, location: str) -> str | None:
        try:
            return self.path_for(location).name
        except BadStoreUri:
            return None

    async def add(self, image_id: str, data: ByteStream, *, size: int | None) -> WriteResult:
        if not _SAFE_ID.match(image_id):
            raise BadStoreUri(f"Invalid image id for the filesystem store: {image_id!r}")
        final = self.datadir / image_id
        partial = self.datadir / f".{image_id}.{uuid.uuid4().hex}.partial"
        written = 0
        try:
            fd = await anyio.to_thread.run_sync(
                lambda: os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            )
            try:
                async for chunk in data:
                    await anyio.to_thread.run_sync(_write_all, fd, chunk)
                    written += len(chunk)
            finally:
                os.close(fd)
            await anyio.to_thread.run_sync(os.link, partial, final)
        except FileExistsError as exc:
            raise Duplicate(f"Image data for {image_id} already exists in the store.") from exc
        except OSError as exc:
            raise _storage_error(exc, self.backend_id) from exc
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled upload leaves no partial file
                await anyio.to_thread.run_sync(_unlink_quietly, partial)
        return WriteResult(location=final.as_uri(), size=written)

    async def inventory(self) -> AsyncIterator[StoredObject]:
        """The image files of the data directory (hidden partial files left out), read a
        batch at a time in a worker thread."""
        listing = await anyio.to_thread.run_sync(lambda: os.scandir(self.datadir))
        try:
            while True:
                batch = await anyio.to_thread.run_sync(_next_files, listing, 256)
                if not batch:
                    return
                for path, size, mtime in batch:
                    modified = datetime.fromtimestamp(mtime, UTC)
                    yield StoredObject(location=path.as_uri(), size=size, modified=modified)
        finally:
            listing.close()

    def location_key(self, location: str) -> str:
        try:
            return str(self.path_for(location))
        except BadStoreUri:
            return location

    async def discard_partial(self, image_id: str) -> None:
        """The partial files of a cut-off ``add``, and a final file that was linked but never
        recorded (a crash between the link and the database): an image still ``saving`` has
        no location, and no other image may name this one's file."""
        if not _SAFE_ID.match(image_id):
            return

        def discard() -> None:  # a directory listing: off the event loop
            for path in [*self.datadir.glob(f".{image_id}.*.partial"), self.datadir / image_id]:
                _unlink_quietly(path)

        await anyio.to_thread.run_sync(discard)

    async def get(self, location: str, *, byte_range: ByteRange | None = None) -> ReadResult:
        path = self.path_for(location)
        try:
            fd, total = await anyio.to_thread.run_sync(_open_for_reading, path)
        except FileNotFoundError as exc:
            raise NotFound("Image data not found in the filesystem store.") from exc
        start = byte_range.start if byte_range else 0
        end = total - 1 if byte_range is None or byte_range.end is None else byte_range.end
        length = max(0, end - start + 1)
        local = LocalFile(path=path, fd=fd, offset=start, length=length, file_size=total)
        return ReadResult(stream=_read_file(local), size=length, local=local)

    async def get_size(self, location: str) -> int:
        path = self.path_for(location)
        try:
            return (await anyio.to_thread.run_sync(path.stat)).st_size
        except FileNotFoundError as exc:
            raise NotFound("Image data not found in the filesystem store.") from exc

    async def delete(self, location: str) -> None:
        path = self.path_for(location)
        try:
            await anyio.to_thread.run_sync(path.unlink)
        except FileNotFoundError as exc:
            raise NotFound("Image data not found in the filesystem store.") from exc
        except OSError as exc:
            raise _storage_error(exc, self.backend_id) from exc


def _next_files(listing: Iterator[os.DirEntry[str]], count: int) -> list[tuple[Path, int, float]]:
    """Up to ``count`` regular files named as image data, with their size and mtime."""
    found: list[tuple[Path, int, float]] = []
    for entry in listing:
        if _SAFE_ID.match(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # deleted meanwhile
                continue
            found.append((Path(entry.path), stat.st_size, stat.st_mtime))
            if len(found) >= count:
                break
    return found


def _open_for_reading(path: Path) -> tuple[int, int]:
    fd = os.open(path, os.O_RDONLY)
    return fd, os.fstat(fd).st_size


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(path: Path) -> None:
    """Remove a file if it is there. A filesystem that refuses (read-only: it answers
    ``EROFS`` even for a file that does not exist) must not hide the error that brought
    the caller here. A partial file that did get written before the filesystem turned
    read-only stays, hidden and logged by name, for the operator who remounts it."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("filesystem store: cannot remove %s: %s", path.name, exc.strerror)


async def _read_file(local: LocalFile) -> ByteStream:
    """Stream the span; the descriptor closes however the read ends."""
    try:
        fd, offset, remaining = local.fd, local.offset, local.length
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(os.pread, fd, min(READ_CHUNK, remaining), offset)
            if not chunk:
                break
            offset += len(chunk)
            remaining -= len(chunk)
            yield chunk
    finally:
        local.close()
