"""Find store drivers by name and build the configured stores.

Built-in drivers are listed here; third parties register theirs under the
``spyglass.stores`` entry-point group (``name = "package.module:Class"``) and
need no change to Spyglass. A driver class builds itself from its backend's
options through ``from_options``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Protocol
from urllib.parse import urlsplit

from spyglass.errors import BadStoreUri, ConfigError, NotFound
from spyglass.stores.base import Store

BUILTIN_DRIVERS: Mapping[str, str] = {
    "file": "spyglass.stores.filesystem:FilesystemStore",
    "filesystem": "spyglass.stores.filesystem:FilesystemStore",
}
ENTRY_POINT_GROUP = "spyglass.stores"
log = logging.getLogger(__name__)


class OptionSource(Protocol):
    def option(self, section: str, name: str) -> object: ...


def driver_class(name: str) -> type[Store]:
    """Resolve a driver name to its class (built-ins first, then entry points)."""
    target = BUILTIN_DRIVERS.get(name)
    if target is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not found:
            raise ConfigError(f"unknown store driver {name!r}")
        cls = found[0].load()
    else:
        module, _, attr = target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Store)):
        raise ConfigError(f"store driver {name!r} is not a Store class")
    return cls


@dataclass
class StoreSet:
    """The enabled stores, by backend id, and which one new uploads go to."""

    stores: dict[str, Store]
    default_id: str

    @property
    def default(self) -> Store:
        return self.stores[self.default_id]

    def for_location(self, url: str) -> Store:
        scheme = urlsplit(url).scheme
        for store in self.stores.values():
            if scheme in store.schemes:
                return store
        raise BadStoreUri(f"No store is configured for locations of scheme {scheme!r}.")

    async def delete(self, url: str) -> None:
        """Remove the data at ``url``; data already gone is not an error."""
        try:
            await self.for_location(url).delete(url)
        except NotFound:
            log.info("image data at a location was already gone")

    async def open(self) -> None:
        for store in self.stores.values():
            await store.open()

    async def close(self) -> None:
        for store in self.stores.values():
            await store.close()
