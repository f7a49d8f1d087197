"""The filesystem store passes the store contract."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest

from spyglass.stores.base import Store
from spyglass.stores.filesystem import FilesystemStore
from spyglass.testing.store_contract import Misconfigured, StoreContract


class TestFilesystemContract(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        fs = FilesystemStore("local", datadir=tmp_path / "images")
        await fs.open()
        yield fs
        await fs.close()

    async def backend_objects(self, store: Store) -> Collection[str]:
        assert isinstance(store, FilesystemStore)
        return os.listdir(store.datadir)

    async def misconfigured_store(self, store: Store) -> Misconfigured:
        """A data directory that cannot be created: its parent is a regular file."""
        assert isinstance(store, FilesystemStore)
        blocker = store.datadir.parent / "not-a-directory"
        blocker.write_bytes(b"")
        return Misconfigured(FilesystemStore("broken", datadir=blocker / "images"))

    @contextlib.asynccontextmanager
    async def storage_full(self, store: Store) -> AsyncIterator[None]:
        """No file of this process may grow past 64 KiB: writes fail with EFBIG."""
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)
