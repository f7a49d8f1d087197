"""Find store drivers by name and hold the configured stores.

Every driver, built-in or not, is registered under the ``spyglass.stores``
entry-point group (``name = "package.module:Class"``), so a third party adds
one by installing a package. A driver whose client library is missing fails
with a one-line install hint instead of a traceback.

A store that cannot be opened (wrong credentials, missing bucket, backend down)
does not stop the server: it stays read-only with a logged reason, writes to it
answer 503 with ``Retry-After``, and it is opened again before a later write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from spyglass.errors import (
    BadStoreUri,
    ConfigError,
    Gone,
    NotFound,
    SpyglassError,
    StoreUnavailable,
)
from spyglass.stores.base import Capability, Store

ENTRY_POINT_GROUP = "spyglass.stores"
INSTALL_HINTS: Mapping[str, str] = {
    "s3": "pip install 'spyglass[s3]'",
    "swift": "pip install 'spyglass[swift]'",
    "rbd": "pip install 'spyglass[rbd]' (librados/librbd: Debian's python3-rados, python3-rbd)",
}
"""What to install when a driver's client library is missing, by driver name."""

REOPEN_INTERVAL = 30.0
"""Seconds between attempts to open a read-only store again (and its ``Retry-After``)."""

log = logging.getLogger(__name__)


class OptionSource(Protocol):
    """Where options come from (``Settings``)."""

    def option(self, section: str, name: str) -> object: ...


@dataclass(frozen=True, slots=True)
class SectionOptions:
    """One backend's options: its own section (multi-store) or ``[glance_store]``."""

    source: OptionSource
    section: str
    data_dir: Path

    def get(self, name: str) -> object:
        return self.source.option(self.section, name)

    def server_option(self, section: str, name: str) -> object:
        return self.source.option(section, name)


def driver_name(store_type: str) -> str:
    """The driver a store type of the configuration names: ``swift+https`` and
    seed-era class paths (``glance.store.filesystem.Store``) included."""
    name = store_type.strip()
    if name.startswith("glance.store.") and name.endswith(".Store"):
        name = name.removeprefix("glance.store.").removesuffix(".Store")
    name = name.split("+", 1)[0]
    return "file" if name == "filesystem" else name


def build_store_set(source: OptionSource, data_dir: Path) -> StoreSet:
    """The configured stores: ``enabled_backends`` (one section per backend id and
    ``[glance_store] default_backend``), or else the classic single-store options
    (``default_store``, plus the other types ``stores`` lists), mapped onto one
    backend per type, named after it."""
    enabled = source.option("DEFAULT", "enabled_backends")
    if isinstance(enabled, dict) and enabled:
        default = source.option("glance_store", "default_backend")
        if not isinstance(default, str) or not default:
            raise ConfigError(
                "[glance_store] default_backend must name one of enabled_backends "
                f"({', '.join(enabled)})"
            )
        stores = {}
        for backend_id, store_type in enabled.items():
            options = SectionOptions(source, backend_id, data_dir / "backends" / backend_id)
            stores[backend_id] = driver_class(driver_name(str(store_type))).from_options(
                backend_id, options
            )
        return _with_details(StoreSet(stores, default, multiple=True), source)
    default_type = driver_name(str(source.option("glance_store", "default_store")))
    options = SectionOptions(source, "glance_store", data_dir)
    stores = {default_type: driver_class(default_type).from_options(default_type, options)}
    listed = source.option("glance_store", "stores")
    for store_type in listed if isinstance(listed, tuple | list) else ():
        name = driver_name(str(store_type))
        if name in stores or (name == "https" and "http" in stores):
            continue
        try:
            stores[name] = driver_class(name).from_options(name, options)
        except ConfigError as exc:
            log.warning("store type %r of [glance_store] stores is not enabled: %s", name, exc)
    return _with_details(StoreSet(stores, default_type), source)


def _with_details(stores: StoreSet, source: OptionSource) -> StoreSet:
    if stores.multiple:
        for backend_id in stores.stores:
            weight = source.option(backend_id, "weight")
            stores.weights[backend_id] = weight if isinstance(weight, int) else 0
            description = source.option(backend_id, "store_description")
            if isinstance(description, str) and description:
                stores.descriptions[backend_id] = description
    return stores


def driver_class(name: str) -> type[Store]:
    """The driver class registered as ``name`` in the ``spyglass.stores`` group."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        raise ConfigError(f"unknown store driver {name!r} (known: {', '.join(known)})")
    cls = _load(name, found[0])
    if not (isinstance(cls, type) and issubclass(cls, Store)):
        raise ConfigError(f"store driver {name!r} is not a Store class")
    return cls


def _load(name: str, entry: EntryPoint) -> object:
    try:
        return entry.load()
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if missing.split(".")[0] == "spyglass":
            raise ConfigError(
                f"store driver {name!r} is not part of this Spyglass version ({entry.value})"
            ) from None
        hint = INSTALL_HINTS.get(name, f"pip install {missing}")
        raise ConfigError(
            f"store driver {name!r} needs the {missing!r} library, which is not installed: {hint}"
        ) from None


@dataclass
class StoreSet:
    """The enabled stores, by backend id, and which one new uploads go to.

    ``weights`` order reads when an image has locations in several stores
    (highest first); ``read_only`` holds, per store, why it cannot be written.
    """

    stores: dict[str, Store]
    default_id: str
    weights: dict[str, int] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    read_only: dict[str, str] = field(default_factory=dict)
    multiple: bool = False
    """Configured by ``enabled_backends`` (the stores API answers), not the classic options."""
    clock: Callable[[], float] = time.monotonic
    _failed_at: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def default(self) -> Store:
        return self.stores[self.default_id]

    def get(self, backend_id: str) -> Store:
        try:
            return self.stores[backend_id]
        except KeyError:
            raise NotFound(f"Store {backend_id} is not available on this node.") from None

    def for_location(self, url: str) -> Store:
        """The store that serves ``url``: one that keeps it in its own data area,
        else the first whose schemes match."""
        scheme = urlsplit(url).scheme
        matching = [store for store in self.stores.values() if scheme in store.schemes]
        for store in matching:
            if store.image_of(url) is not None:
                return store
        if matching:
            return matching[0]
        raise BadStoreUri(f"No store is configured for locations of scheme {scheme!r}.")

    def backend_of(self, url: str, recorded: str | None) -> str | None:
        """The backend holding ``url``: the recorded id if it is enabled, else the
        store that serves the URL (locations from single-store days, or a backend
        the operator renamed), as upstream works it out; None if none does."""
        if recorded is not None and recorded in self.stores:
            return recorded
        try:
            return self.for_location(url).backend_id
        except BadStoreUri:
            return None

    def store_of(self, url: str, backend_id: str | None) -> Store:
        """The store a location lives in, by its recorded backend id when enabled."""
        if backend_id is not None and backend_id in self.stores:
            return self.stores[backend_id]
        return self.for_location(url)

    async def writable(self, backend_id: str | None = None) -> Store:
        """The store to write to (the default when ``backend_id`` is None).

        A store left read-only at start-up is opened again, at most once per
        ``REOPEN_INTERVAL``; until that succeeds writes answer 503. A driver that
        never writes (HTTP) answers 410, as upstream.
        """
        store = self.get(backend_id or self.default_id)
        if not store.capabilities & Capability.WRITE:  # upstream's StoreAddDisabled
            raise Gone("Error in store configuration. Adding images to store is disabled.")
        reason = self.read_only.get(store.backend_id)
        if reason is not None:
            if self.clock() - self._failed_at.get(store.backend_id, 0.0) < REOPEN_INTERVAL:
                raise StoreUnavailable(f"Store {store.backend_id} is read-only: {reason}")
            self._failed_at[store.backend_id] = self.clock()  # one attempt at a time
            await self._open_one(store)
            if store.backend_id in self.read_only:
                raise StoreUnavailable(
                    f"Store {store.backend_id} is read-only: {self.read_only[store.backend_id]}"
                )
        return store

    async def delete(self, url: str, backend_id: str | None = None) -> None:
        """Remove the data at ``url``; data already gone is not an error."""
        try:
            await self.store_of(url, backend_id).delete(url)
        except NotFound:
            log.info("image data at a location was already gone")

    async def open(self) -> None:
        """Open every store; one that fails is kept read-only, with the reason logged."""
        for store in self.stores.values():
            await self._open_one(store)

    async def _open_one(self, store: Store) -> None:
        try:
            await store.open()
        except SpyglassError as exc:
            if exc.http_status != 503:
                raise
            self.read_only[store.backend_id] = exc.message
            self._failed_at[store.backend_id] = self.clock()
            log.warning(
                "store %s (%s) is read-only: %s", store.backend_id, store.driver, exc.message
            )
        else:
            if self.read_only.pop(store.backend_id, None) is not None:
                log.info("store %s is writable again", store.backend_id)

    async def close(self) -> None:
        for store in self.stores.values():
            try:
                await store.close()
            except Exception:
                log.exception("store %s did not close cleanly", store.backend_id)
