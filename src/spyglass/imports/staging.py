"""The staging area: where ``PUT /stage`` and downloads keep an image's bytes until
they are imported (upstream's ``node_staging_uri`` or ``os_glance_staging_store``).

It is a filesystem store in a directory of its own, one file per image id, so
the plugins (qemu-img) can work on a file and every node finds its own staged
data by the image's id.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from spyglass.config import Settings
from spyglass.errors import ConfigError
from spyglass.stores.filesystem import FilesystemStore

STAGING_ID = "os_glance_staging_store"


def staging_directory(settings: Settings) -> Path:
    """``[os_glance_staging_store] filesystem_store_datadir`` with multiple stores,
    else ``node_staging_uri`` (a ``file://`` URI, as upstream requires)."""
    if settings.enabled_backends:
        datadir = settings.option(STAGING_ID, "filesystem_store_datadir")
        if isinstance(datadir, str) and datadir:
            return Path(datadir)
    uri = str(settings.option("DEFAULT", "node_staging_uri"))
    parts = urlsplit(uri)
    if parts.scheme != "file" or not parts.path:
        raise ConfigError(f"node_staging_uri must be a file:// URI, not {uri!r}")
    return Path(unquote(parts.path))


class StagingArea:
    """Staged bytes by image id."""

    def __init__(self, directory: Path) -> None:
        self.store = FilesystemStore(STAGING_ID, datadir=directory)

    @property
    def directory(self) -> Path:
        return self.store.datadir

    def path(self, image_id: str) -> Path:
        return self.store.datadir / image_id

    def location(self, image_id: str) -> str:
        return self.path(image_id).as_uri()

    async def open(self) -> None:
        await self.store.open()

    async def holds(self, image_id: str) -> bool:
        return await anyio.to_thread.run_sync(self.path(image_id).is_file)

    async def size(self, image_id: str) -> int:
        return (await anyio.to_thread.run_sync(self.path(image_id).stat)).st_size

    async def being_written(self, image_id: str, within: float) -> bool:
        """Whether a writer touched a partial file of the image in the last ``within`` s."""
        return await anyio.to_thread.run_sync(self._being_written, image_id, within)

    def _being_written(self, image_id: str, within: float) -> bool:
        recent = time.time() - within
        for path in self.directory.glob(f".{image_id}.*.partial"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime >= recent:
                    return True
        return False

    async def staged(self) -> list[str]:
        """The ids of the images whose data is staged here whole."""
        return await anyio.to_thread.run_sync(self._staged)

    def _staged(self) -> list[str]:
        with contextlib.suppress(FileNotFoundError):
            return [p.name for p in self.directory.iterdir() if not p.name.startswith(".")]
        return []

    async def clear(self, image_id: str) -> None:
        """Remove the image's staged file and anything a dead writer left for it."""
        await anyio.to_thread.run_sync(self._clear, image_id)

    def _clear(self, image_id: str) -> None:
        leftovers = [self.path(image_id), *self.directory.glob(f".{image_id}.*.partial")]
        for path in leftovers:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
