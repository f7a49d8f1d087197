"""A small tmpfs a test mounts for itself: a real filesystem that fills up or turns read-only.

Injected ``ENOSPC`` tests the error mapping; only a real full disk shows what the server
does when the kernel refuses a write halfway through a file (and what it leaves). Mounting
needs root; without it, or when ``mount`` fails (no tmpfs in a container), the test skips
and says why. The mount is always undone, lazily if something still holds it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "8m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``where`` (created) for the ``with`` block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the disk-full tests run as root in CI)")
    where.mkdir(parents=True, exist_ok=True)
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where))
    if mounted.returncode != 0:
        pytest.skip(f"mount -t tmpfs failed: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield where
    finally:
        if _run("umount", str(where)).returncode != 0:
            _run("umount", "-l", str(where))


def remount(where: Path, *, read_only: bool) -> None:
    """Turn the tmpfs on ``where`` read-only or writable again, under a running server."""
    done = _run("mount", "-o", f"remount,{'ro' if read_only else 'rw'}", str(where))
    assert done.returncode == 0, f"remount of {where} failed: {done.stderr}"


def free_bytes(where: Path) -> int:
    stat = os.statvfs(where)
    return stat.f_bavail * stat.f_frsize
