"""Where the cache keeps its files, and the only moves between those places.

``<image_cache_dir>/<id>`` are complete, verified images; ``incomplete/<id>`` is
a fill in progress; ``invalid/<id>`` a fill that failed verification (kept for
an operator to look at until ``clean``); ``queue/<id>`` an empty marker asking
the prefetcher for the image. A file only reaches the top level by an atomic
rename after its digests matched, so a crash never leaves a half image there.

The process filling ``incomplete/<id>`` holds an exclusive ``flock`` on it for
as long as it writes. A lock the cleaner can take therefore belongs to nobody:
the filler crashed, and the file can go whatever its age.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

_IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
_SUBDIRS = ("incomplete", "invalid", "queue")


def valid_id(image_id: str) -> bool:
    """Only names that are safe as file names ever reach the directory."""
    return bool(_IMAGE_ID.match(image_id))


@dataclass(frozen=True, slots=True)
class IncompleteFile:
    path: Path
    locked: bool
    """Someone is writing it right now."""
    age: float
    """Seconds since it was last written."""


class CacheLayout:
    def __init__(self, root: str | Path, *, index_file: str | None = None) -> None:
        self.root = Path(root)
        self.index_file = index_file
        """A file of the index kept here (with its ``-wal``...), never taken for an image."""
        self.incomplete_dir = self.root / "incomplete"
        self.invalid_dir = self.root / "invalid"
        self.queue_dir = self.root / "queue"

    def create(self) -> None:
        for name in _SUBDIRS:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def path(self, image_id: str) -> Path:
        return self.root / image_id

    def incomplete(self, image_id: str) -> Path:
        return self.incomplete_dir / image_id

    # -- filling --------------------------------------------------------------------------

    def start_fill(self, image_id: str) -> int | None:
        """Open ``incomplete/<id>`` for writing, locked; ``None`` if someone else fills it.

        A leftover whose filler died (its lock is free) is replaced.
        """
        path = self.incomplete(image_id)
        for _ in range(2):
            # Locked before it has its name, so nobody ever sees it unlocked.
            scratch = self.incomplete_dir / f".{image_id}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
            fd = os.open(scratch, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                os.link(scratch, path)
            except FileExistsError:
                os.close(fd)
                if not _remove_if_unlocked(path):
                    return None
                continue
            finally:
                scratch.unlink()
            return fd
        return None

    def finish_fill(self, image_id: str, fd: int) -> float:
        """Make the filled file durable and move it into place; returns its ctime."""
        os.fsync(fd)
        final = self.path(image_id)
        os.rename(self.incomplete(image_id), final)
        _fsync_dir(self.root)
        return os.stat(final).st_ctime

    def fail_fill(self, image_id: str, keep: bool) -> None:
        """Move a fill to ``invalid/`` (``keep``: its bytes are worth a look) or drop it."""
        path = self.incomplete(image_id)
        with contextlib.suppress(FileNotFoundError):
            if keep:
                os.rename(path, self.invalid_dir / image_id)
            else:
                path.unlink()

    # -- complete files -------------------------------------------------------------------

    def invalidate(self, image_id: str) -> None:
        """Move a complete file that failed a check to ``invalid/``."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.path(image_id), self.invalid_dir / image_id)

    def remove(self, image_id: str) -> int:
        """Delete a complete file; returns the bytes freed (0 if it was not there)."""
        path = self.path(image_id)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def complete_ids(self) -> list[str]:
        names = [p.name for p in self._files(self.root) if valid_id(p.name)]
        if self.index_file:
            names = [n for n in names if not n.startswith(self.index_file)]
        return names

    # -- housekeeping ---------------------------------------------------------------------

    def incomplete_files(self, now: float | None = None) -> list[IncompleteFile]:
        found = []
        now = _now() if now is None else now
        for path in self._files(self.incomplete_dir):
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            found.append(IncompleteFile(path, _is_locked(path), age))
        return found

    def invalid_files(self) -> list[Path]:
        return self._files(self.invalid_dir)

    # -- the prefetch queue ---------------------------------------------------------------

    def queue(self, image_id: str) -> None:
        (self.queue_dir / image_id).touch()

    def dequeue(self, image_id: str) -> bool:
        try:
            (self.queue_dir / image_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def queued_ids(self) -> list[str]:
        files = self._files(self.queue_dir)
        files.sort(key=lambda p: _mtime(p))
        return [p.name for p in files if valid_id(p.name)]

    @staticmethod
    def _files(directory: Path) -> list[Path]:
        try:
            return [p for p in directory.iterdir() if p.is_file()]
        except FileNotFoundError:
            return []


def _now() -> float:
    import time

    return time.time()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock without waiting; ``False`` if a filler holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def _is_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)


def _remove_if_unlocked(path: Path) -> bool:
    """Remove a file nobody holds the lock of; ``False`` if it is in use."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        if not _try_lock(fd):
            return False
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:  # not replaced meanwhile
                path.unlink()
    finally:
        os.close(fd)
    return True


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
