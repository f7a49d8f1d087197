"""Drivers found by entry points; stores that cannot open stay read-only instead of failing."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint
from pathlib import Path

import anyio
import pytest

from spyglass.config import load_settings
from spyglass.errors import ConfigError, Gone, StoreMisconfigured, StoreUnavailable
from spyglass.stores import registry
from spyglass.stores.base import Capability, ReadResult, Store, WriteResult
from spyglass.stores.filesystem import FilesystemStore
from spyglass.stores.registry import StoreSet, build_store_set, driver_class, driver_name
from spyglass.types import ByteStream


class FlakyStore(Store):
    """Opens only once ``fixed`` is set; writes nothing."""

    driver = "flaky"
    schemes = ("flaky",)
    fixed = False
    opened = 0

    @property
    def capabilities(self) -> Capability:
        return Capability.READ | Capability.WRITE

    async def open(self) -> None:
        self.opened += 1
        if not self.fixed:
            raise StoreMisconfigured(f"Store {self.backend_id}: the bucket does not exist")

    async def add(self, image_id: str, data: ByteStream, *, size: int | None) -> WriteResult:
        raise NotImplementedError

    async def get(self, location: str, *, byte_range: object = None) -> ReadResult:
        raise NotImplementedError

    async def get_size(self, location: str) -> int:
        raise NotImplementedError

    async def delete(self, location: str) -> None:
        raise NotImplementedError


def _entry_points(monkeypatch: pytest.MonkeyPatch, **targets: str) -> None:
    found = [EntryPoint(name, value, registry.ENTRY_POINT_GROUP) for name, value in targets.items()]
    monkeypatch.setattr(registry, "entry_points", lambda group: found)


def test_built_in_drivers_are_entry_points() -> None:
    assert driver_class("file") is FilesystemStore
    assert driver_class("filesystem") is FilesystemStore


def test_unknown_driver_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown store driver 'cinder' \(known: .*file"):
        driver_class("cinder")


def test_missing_client_library_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, rbd="no_such_rados_binding.thing:RbdStore")
    with pytest.raises(ConfigError) as failed:
        driver_class("rbd")
    assert "\n" not in failed.value.message
    assert "no_such_rados_binding" in failed.value.message
    assert "pip install 'spyglass[rbd]'" in failed.value.message


def test_a_driver_this_version_lacks_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, s3="spyglass.stores.no_such_driver:S3Store")
    with pytest.raises(ConfigError, match="not part of this Spyglass version"):
        driver_class("s3")


def test_an_entry_point_that_is_not_a_store_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, odd="spyglass.errors:ConfigError")
    with pytest.raises(ConfigError, match="is not a Store class"):
        driver_class("odd")


@pytest.mark.parametrize(
    ("configured", "driver"),
    [
        ("file", "file"),
        ("filesystem", "file"),
        ("glance.store.filesystem.Store", "file"),
        ("glance.store.swift.Store", "swift"),
        ("swift+https", "swift"),
        ("rbd", "rbd"),
    ],
)
def test_store_types_of_the_configuration(configured: str, driver: str) -> None:
    assert driver_name(configured) == driver


async def test_a_store_that_cannot_open_is_read_only_until_it_can(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [100.0]
    flaky = FlakyStore("cheap")
    stores = StoreSet({"cheap": flaky}, "cheap", clock=lambda: clock[0])
    with caplog.at_level(logging.WARNING):
        await stores.open()
    assert "store cheap (flaky) is read-only: Store cheap: the bucket does not exist" in caplog.text
    assert stores.read_only == {"cheap": "Store cheap: the bucket does not exist"}
    with pytest.raises(StoreUnavailable, match="Store cheap is read-only") as failed:
        await stores.writable()
    assert failed.value.http_status == 503
    assert flaky.opened == 1  # not retried within the interval
    clock[0] += registry.REOPEN_INTERVAL
    with pytest.raises(StoreUnavailable):
        await stores.writable()
    assert flaky.opened == 2
    flaky.fixed = True
    clock[0] += registry.REOPEN_INTERVAL
    assert await stores.writable() is flaky
    assert stores.read_only == {}
    assert flaky.opened == 3


async def test_concurrent_writes_open_a_read_only_store_once() -> None:
    clock = [100.0]

    class Slow(FlakyStore):
        async def open(self) -> None:
            await anyio.sleep(0.05)
            await super().open()

    slow = Slow("cheap")
    stores = StoreSet({"cheap": slow}, "cheap", clock=lambda: clock[0])
    await stores.open()
    clock[0] += registry.REOPEN_INTERVAL
    failures: list[Exception] = []

    async def write() -> None:
        try:
            await stores.writable()
        except StoreUnavailable as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(write)
    assert slow.opened == 2
    assert len(failures) == 5


async def test_read_only_drivers_are_never_written(tmp_path: Path) -> None:
    class ReadOnly(FlakyStore):
        @property
        def capabilities(self) -> Capability:
            return Capability.READ

    stores = StoreSet({"web": ReadOnly("web")}, "web")
    with pytest.raises(Gone, match="Adding images to store is disabled") as failed:
        await stores.writable()
    assert failed.value.http_status == 410


def _settings(tmp_path: Path, text: str) -> StoreSet:
    conf = tmp_path / "glance-api.conf"
    conf.write_text(text)
    return build_store_set(load_settings([conf]), tmp_path)


def test_the_classic_options_make_one_store_named_after_its_type(tmp_path: Path) -> None:
    stores = _settings(
        tmp_path, f"[glance_store]\ndefault_store = file\nfilesystem_store_datadir = {tmp_path}/x\n"
    )
    assert not stores.multiple
    assert list(stores.stores) == ["file", "http"]  # upstream's default ``stores = file,http``
    store = stores.default
    assert isinstance(store, FilesystemStore)
    assert store.datadir == tmp_path / "x"


def test_the_seed_era_default_section_still_works(tmp_path: Path) -> None:
    stores = _settings(tmp_path, "[DEFAULT]\ndefault_store = file\n")
    store = stores.default
    assert isinstance(store, FilesystemStore)
    assert store.datadir == tmp_path / "images"


def test_enabled_backends_make_one_store_per_section(tmp_path: Path) -> None:
    stores = _settings(
        tmp_path,
        "[DEFAULT]\nenabled_backends = fast:file, cheap:file\n"
        "[glance_store]\ndefault_backend = cheap\n"
        f"[fast]\nfilesystem_store_datadir = {tmp_path}/fast\nweight = 100\n"
        "store_description = Fast disks\n"
        f"[cheap]\nfilesystem_store_datadir = {tmp_path}/cheap\n",
    )
    assert stores.multiple
    assert stores.default_id == "cheap"
    assert stores.weights == {"fast": 100, "cheap": 0}
    assert stores.descriptions == {"fast": "Fast disks"}
    fast = stores.stores["fast"]
    assert isinstance(fast, FilesystemStore)
    assert fast.datadir == tmp_path / "fast"
    location = (tmp_path / "fast" / "5d054d62-652b-4fc3-98f3-032a71483c46").as_uri()
    assert stores.for_location(location) is fast


def test_enabled_backends_need_a_default_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="default_backend must name one of"):
        _settings(tmp_path, "[DEFAULT]\nenabled_backends = fast:file\n")
