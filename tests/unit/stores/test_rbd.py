"""The RBD store against an in-memory stand-in for Ceph's ``rados``/``rbd`` bindings.

The stand-in keeps pools of images with snapshots, clones and watchers, fails on
request, and records the thread of every call, so these tests say how the driver uses
the bindings; ``tests/integration/stores/test_rbd.py`` runs it against a real Ceph.
"""

from __future__ import annotations

import errno
import threading
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from spyglass.errors import (
    BadStoreUri,
    ConfigError,
    Duplicate,
    ImageTooLarge,
    InUse,
    NotFound,
    StorageFull,
    StoreMisconfigured,
    StoreUnavailable,
)
from spyglass.stores.base import ByteRange
from spyglass.stores.rbd import RbdLocation, RbdStore
from spyglass.stores.rbd_cluster import PARTIAL, Bindings, Writer
from spyglass.stores.rbd_read import READ_AHEAD, READ_PIECE

FSID = "4f1a6e0e-3c57-4b6e-8b5e-0a7c1f7a9d11"
KIB = 1024


# -- the stand-in for the bindings -----------------------------------------------------------


class FakeError(Exception):
    def __init__(self, message: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.errno = code


def _error(name: str, code: int) -> type[FakeError]:
    return type(name, (FakeError,), {"__init__": lambda s, m="": FakeError.__init__(s, m, code)})


@dataclass
class FakeImage:
    data: bytearray = field(default_factory=bytearray)
    order: int = 22
    snaps: dict[str, bool] = field(default_factory=dict)  # name -> protected
    children: list[str] = field(default_factory=list)
    writes: int = 0
    written: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))


@dataclass
class FakeCeph:
    """The cluster's state and the failures to inject."""

    pools: dict[str, dict[str, FakeImage]] = field(default_factory=lambda: {"images": {}})
    connect_error: Exception | None = None
    fail_write_after: int | None = None
    write_error: Exception | None = None
    remove_failures: int = 0
    read_error: int | None = None
    reads_issued: int = 0
    threads: set[str] = field(default_factory=set)

    def called(self) -> None:
        self.threads.add(threading.current_thread().name)

    def bindings(self) -> Bindings:
        rados = types.ModuleType("rados")
        rados.Error = FakeError  # type: ignore[attr-defined]
        rados.ObjectNotFound = _error("ObjectNotFound", errno.ENOENT)  # type: ignore[attr-defined]
        rbd = types.ModuleType("rbd")
        rbd.Error = FakeError  # type: ignore[attr-defined]
        for name, code in [
            ("ImageNotFound", errno.ENOENT),
            ("ImageExists", errno.EEXIST),
            ("ImageBusy", errno.EBUSY),
            ("InvalidArgument", errno.EINVAL),
            ("ImageHasSnapshots", errno.ENOTEMPTY),
            ("NoSpace", errno.ENOSPC),
            ("Timeout", errno.ETIMEDOUT),
        ]:
            setattr(rbd, name, _error(name, code))
        rbd.RBD_FEATURE_LAYERING = 1  # type: ignore[attr-defined]
        ceph = self

        class Ioctx:
            def __init__(self, pool: str) -> None:
                self.images = ceph.pools[pool]

            def set_osdmap_full_try(self) -> None:
                pass

            def close(self) -> None:
                pass

        class Rados:
            def __init__(self, conffile: str, rados_id: str | None, conf: dict[str, str]) -> None:
                self.conf = conf

            def connect(self) -> None:
                ceph.called()
                if ceph.connect_error is not None:
                    raise ceph.connect_error

            def shutdown(self) -> None:
                pass

            def get_fsid(self) -> str:
                return FSID

            def pool_exists(self, pool: str) -> bool:
                return pool in ceph.pools

            def open_ioctx(self, pool: str) -> Ioctx:
                if pool not in ceph.pools:
                    raise rados.ObjectNotFound("error opening pool")
                return Ioctx(pool)

            def conf_get(self, name: str) -> str:
                return "1"

        class RBD:
            def create(self, ctx: Ioctx, name: str, size: int, order: int, **kw: Any) -> None:
                ceph.called()
                if name in ctx.images:
                    raise rbd.ImageExists()
                ctx.images[name] = FakeImage(bytearray(size), order)

            def remove(self, ctx: Ioctx, name: str) -> None:
                ceph.called()
                if ceph.remove_failures > 0:
                    ceph.remove_failures -= 1
                    raise rbd.Timeout()
                image = ctx.images.get(name)
                if image is None:
                    raise rbd.ImageNotFound()
                if image.snaps:
                    raise rbd.ImageHasSnapshots()
                del ctx.images[name]

            def rename(self, ctx: Ioctx, old: str, new: str) -> None:
                if new in ctx.images:
                    raise rbd.ImageExists()
                ctx.images[new] = ctx.images.pop(old)

            def list(self, ctx: Ioctx) -> list[str]:
                return sorted(ctx.images)

        @dataclass
        class Completion:
            result: int

            def wait_for_complete_and_cb(self) -> None:
                ceph.called()

            def get_return_value(self) -> int:
                return self.result

        class Image:
            def __init__(
                self, ctx: Ioctx, name: str, snapshot: str | None = None, read_only: bool = False
            ) -> None:
                ceph.called()
                if name not in ctx.images or (snapshot and snapshot not in ctx.images[name].snaps):
                    raise rbd.ImageNotFound()
                self.image = ctx.images[name]

            def __enter__(self) -> Image:
                return self

            def __exit__(self, *exc: object) -> None:
                self.close()

            def close(self) -> None:
                ceph.called()

            def size(self) -> int:
                return len(self.image.data)

            def resize(self, size: int) -> None:
                ceph.called()
                del self.image.data[size:]
                self.image.data.extend(bytes(size - len(self.image.data)))

            def write(self, data: bytes, offset: int) -> int:
                ceph.called()
                if ceph.fail_write_after is not None and self.image.writes >= ceph.fail_write_after:
                    raise ceph.write_error or rbd.NoSpace()
                if offset + len(data) > len(self.image.data):
                    raise rbd.InvalidArgument()
                self.image.data[offset : offset + len(data)] = data
                self.image.writes += 1
                return len(data)

            def aio_write(self, data: bytes, offset: int, oncomplete: Any) -> Completion:
                try:
                    result = self.write(data, offset)
                except FakeError as exc:
                    result = -(exc.errno or errno.EIO)
                return Completion(result)

            def read(self, offset: int, length: int) -> bytes:
                ceph.called()
                return bytes(self.image.data[offset : offset + length])

            def aio_read(self, offset: int, length: int, oncomplete: Any) -> Completion:
                """Queues only (it may run on the event loop); the callback comes from
                another thread, as librbd's does."""
                ceph.reads_issued += 1
                if ceph.read_error is not None:
                    done, data = Completion(-ceph.read_error), None
                else:
                    data = bytes(self.image.data[offset : offset + length])
                    done = Completion(len(data))
                threading.Thread(target=oncomplete, args=(done, data)).start()
                return done

            def create_snap(self, name: str) -> None:
                self.image.snaps[name] = False

            def protect_snap(self, name: str) -> None:
                self.image.snaps[name] = True

            def unprotect_snap(self, name: str) -> None:
                if name not in self.image.snaps:
                    raise rbd.ImageNotFound()
                if not self.image.snaps[name]:
                    raise rbd.InvalidArgument()
                if self.image.children:
                    raise rbd.ImageBusy()
                self.image.snaps[name] = False

            def remove_snap(self, name: str) -> None:
                del self.image.snaps[name]

            def modify_timestamp(self) -> datetime:
                return self.image.written

            def list_children(self) -> list[tuple[str, str]]:
                return [("images", child) for child in self.image.children]

        rados.Rados = Rados  # type: ignore[attr-defined]
        rbd.RBD, rbd.Image = RBD, Image  # type: ignore[attr-defined]
        return Bindings(rados, rbd)


@pytest.fixture
def ceph() -> FakeCeph:
    return FakeCeph()


def make_store(ceph: FakeCeph, **kwargs: Any) -> RbdStore:
    return RbdStore("ceph", chunk_size=64 * KIB, bindings=ceph.bindings(), **kwargs)


@pytest.fixture
async def store(ceph: FakeCeph) -> AsyncIterator[RbdStore]:
    rbd = make_store(ceph)
    await rbd.open()
    yield rbd
    await rbd.close()


async def pieces(data: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def payload(size: int) -> bytes:
    return bytes(i * 7 % 251 for i in range(size))


async def read_all(store: RbdStore, location: str, byte_range: ByteRange | None = None) -> bytes:
    result = await store.get(location, byte_range=byte_range)
    data = b"".join([chunk async for chunk in result.stream])
    assert len(data) == result.size
    return data


# -- locations -------------------------------------------------------------------------------


def test_locations_parse_both_upstream_forms() -> None:
    assert RbdLocation.parse(f"rbd://{FSID}/images/abc/snap") == RbdLocation(
        "abc", "images", FSID, "snap"
    )
    assert RbdLocation.parse("rbd://abc") == RbdLocation("abc")
    assert RbdLocation.parse("rbd://f%2Fs/my%20pool/i/s").pool == "my pool"


def test_locations_are_written_quoted() -> None:
    assert RbdLocation("i", "a/b", "f", "snap").uri() == "rbd://f/a%2Fb/i/snap"
    assert RbdLocation("abc").uri() == "rbd://abc"


@pytest.mark.parametrize(
    "url", ["rbd://", "rbd://a/b", "rbd://a//c/d", "rbd://a/b/c/d/e", "file:///x", "rbd://f/p/../s"]
)
def test_bad_locations_are_refused(store: RbdStore, url: str) -> None:
    with pytest.raises(BadStoreUri):
        store.location_of(url)


# -- writing ---------------------------------------------------------------------------------


async def test_add_writes_one_image_with_a_protected_snapshot(
    store: RbdStore, ceph: FakeCeph
) -> None:
    data = payload(200 * KIB)
    written = await store.add("img-1", pieces(data), size=len(data))
    assert written.location == f"rbd://{FSID}/images/img-1/snap"
    assert written.size == len(data)
    image = ceph.pools["images"]["img-1"]
    assert list(ceph.pools["images"]) == ["img-1"]  # no partial image left
    assert image.order == 16  # log2 of the 64 KiB chunk size
    assert image.snaps == {"snap": True}
    assert bytes(image.data) == data
    assert image.writes == 3  # pieces gathered into writes of an object or more
    assert await read_all(store, written.location) == data
    assert await store.get_size(written.location) == len(data)
    assert store.image_of(written.location) == "img-1"


async def test_add_of_unknown_size_grows_the_image_and_trims_it(
    store: RbdStore, ceph: FakeCeph
) -> None:
    data = payload(1000 * KIB + 5)
    written = await store.add("img-2", pieces(data), size=None)
    assert written.size == len(data)
    assert bytes(ceph.pools["images"]["img-2"].data) == data


async def test_empty_image(store: RbdStore, ceph: FakeCeph) -> None:
    written = await store.add("empty", pieces(b""), size=0)
    assert written.size == 0
    assert await read_all(store, written.location) == b""
    assert ceph.pools["images"]["empty"].snaps == {"snap": True}


async def test_a_failing_stream_removes_the_partial_image(store: RbdStore, ceph: FakeCeph) -> None:
    async def too_large() -> AsyncIterator[bytes]:
        yield payload(150 * KIB)
        raise ImageTooLarge("cap")

    with pytest.raises(ImageTooLarge):
        await store.add("img-3", too_large(), size=None)
    assert ceph.pools["images"] == {}


async def test_a_full_pool_is_storage_full_and_leaves_nothing(
    store: RbdStore, ceph: FakeCeph
) -> None:
    ceph.fail_write_after = 1
    with pytest.raises(StorageFull) as failed:
        await store.add("img-4", pieces(payload(300 * KIB)), size=300 * KIB)
    assert "ceph" in failed.value.message
    assert ceph.pools["images"] == {}


async def test_a_cluster_gone_mid_upload_is_unavailable_and_cleaned_up_later(
    store: RbdStore, ceph: FakeCeph
) -> None:
    ceph.fail_write_after, ceph.write_error = 1, FakeError("timed out", errno.ETIMEDOUT)
    ceph.remove_failures = 2  # the first removals fail too, as while the cluster is away
    store.janitor.pause = 0.01
    with pytest.raises(StoreUnavailable):
        await store.add("img-5", pieces(payload(300 * KIB)), size=300 * KIB)
    for _ in range(200):
        if not ceph.pools["images"]:
            break
        await anyio.sleep(0.01)
    assert ceph.pools["images"] == {}
    assert store.janitor.pending == []


async def test_existing_data_is_a_duplicate(store: RbdStore, ceph: FakeCeph) -> None:
    await store.add("img-6", pieces(b"abc"), size=3)
    with pytest.raises(Duplicate):
        await store.add("img-6", pieces(b"def"), size=3)
    assert bytes(ceph.pools["images"]["img-6"].data) == b"abc"


async def test_thin_provisioning_skips_runs_of_zeros(ceph: FakeCeph) -> None:
    store = make_store(ceph, thin_provisioning=True)
    data = bytes(128 * KIB) + payload(64 * KIB)
    written = await store.add("thin", pieces(data), size=len(data))
    assert ceph.pools["images"]["thin"].writes == 1
    assert await read_all(store, written.location) == data


class _Pending:
    def __init__(self) -> None:
        self.done = False

    def wait_for_complete_and_cb(self) -> None:
        self.done = True

    def get_return_value(self) -> int:
        return 0


class _SlowImage:
    """An image whose writes complete only when waited for."""

    def __init__(self) -> None:
        self.writes: list[tuple[_Pending, bytes]] = []

    def aio_write(self, chunk: bytes, offset: int, oncomplete: Any) -> _Pending:
        self.writes.append((_Pending(), chunk))
        return self.writes[-1][0]

    def in_flight(self) -> int:
        return sum(len(chunk) for done, chunk in self.writes if not done.done)


def test_the_writer_keeps_at_most_its_budget_in_flight() -> None:
    """librbd writes from the chunks themselves (zero-copy), so the writer holds each
    until its write completes; waiting for the oldest keeps the bytes in flight bounded."""
    image = _SlowImage()
    writer = Writer(image, budget=3 * KIB)
    for n in range(6):
        writer.write(payload(KIB), n * KIB, None)
        assert image.in_flight() <= 3 * KIB
    assert image.in_flight() == 3 * KIB
    writer.drain()
    assert image.in_flight() == 0


async def test_a_stream_failing_mid_upload_waits_for_writes_in_flight(ceph: FakeCeph) -> None:
    store = make_store(ceph)
    image = _SlowImage()
    writer_of: list[Writer] = []

    class Watched(Writer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            writer_of.append(self)

    async def broken() -> AsyncIterator[bytes]:
        yield payload(100 * KIB)
        raise ImageTooLarge("too large")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("spyglass.stores.rbd.Writer", Watched)
        with pytest.raises(ImageTooLarge):
            await store._write(image, broken(), 10**6, known=True)
    assert image.writes and image.in_flight() == 0  # none released before librbd was done
    assert writer_of[0]._held == 0


async def test_the_connection_writes_without_copies_or_cache(store: RbdStore) -> None:
    conf = store.cluster.connected().conf
    assert conf["rbd_disable_zero_copy_writes"] == "false"
    assert conf["rbd_cache"] == "false"


@pytest.mark.parametrize("image_id", ["../x", "a/b", "x" + PARTIAL + "1", ""])
async def test_unsafe_image_ids_are_refused(store: RbdStore, image_id: str) -> None:
    with pytest.raises(BadStoreUri):
        await store.add(image_id, pieces(b"x"), size=1)


async def test_open_removes_partial_images_a_killed_server_left(ceph: FakeCeph) -> None:
    images = ceph.pools["images"]
    now = datetime.now(UTC).replace(tzinfo=None)
    images["old" + PARTIAL + "1"] = FakeImage(written=now - timedelta(hours=2))
    images["busy" + PARTIAL + "2"] = FakeImage(written=now - timedelta(seconds=30))
    images["whole"] = FakeImage(written=now - timedelta(days=9))
    store = make_store(ceph)
    await store.open()
    assert sorted(images) == ["busy" + PARTIAL + "2", "whole"]


# -- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"), [(0, 99), (65_000, 140_000), (199_900, None), (150_000, 10**9)]
)
async def test_ranged_reads(store: RbdStore, start: int, end: int | None) -> None:
    data = payload(200_000)
    written = await store.add("ranged", pieces(data), size=len(data))
    stop = len(data) if end is None else min(end + 1, len(data))
    assert await read_all(store, written.location, ByteRange(start, end)) == data[start:stop]


async def test_reads_run_ahead_in_pieces_and_stop_early_cleanly(
    store: RbdStore, ceph: FakeCeph
) -> None:
    """A download keeps a few reads in flight; one abandoned after its first piece issues
    no more and the image still closes (after the reads in flight are done)."""
    data = payload(3 * READ_PIECE + 5)
    written = await store.add("ahead", pieces(data), size=len(data))
    assert await read_all(store, written.location) == data
    assert ceph.reads_issued == 4
    ceph.reads_issued = 0
    stream = (await store.get(written.location)).stream
    first = await anext(aiter(stream))
    await stream.aclose()  # type: ignore[attr-defined]
    assert first == data[:READ_PIECE]
    assert ceph.reads_issued == READ_AHEAD


async def test_a_failed_read_is_a_store_error(store: RbdStore, ceph: FakeCeph) -> None:
    written = await store.add("broken", pieces(payload(100)), size=100)
    ceph.read_error = errno.EIO
    with pytest.raises(StoreUnavailable, match="reading"):
        await read_all(store, written.location)


async def test_legacy_locations_read_from_the_configured_pool(store: RbdStore) -> None:
    await store.add("legacy", pieces(b"old bytes"), size=9)
    assert await read_all(store, "rbd://legacy") == b"old bytes"
    assert await store.get_size("rbd://legacy") == 9


async def test_missing_images_are_not_found(store: RbdStore) -> None:
    for call in (store.get, store.get_size, store.delete):
        with pytest.raises(NotFound):
            await call(f"rbd://{FSID}/images/nothing/snap")


def test_image_of_only_names_images_of_its_own_pool(store: RbdStore) -> None:
    assert store.image_of(f"rbd://{FSID}/images/abc/snap") == "abc"
    assert store.image_of("rbd://abc") == "abc"
    assert store.image_of(f"rbd://{FSID}/other/abc/snap") is None
    assert store.image_of("rbd://another-fsid/images/abc/snap") is None
    assert store.image_of(f"rbd://{FSID}/images/abc{PARTIAL}1/snap") is None
    assert store.image_of("http://example.com/abc") is None


@pytest.mark.parametrize(
    "url", [f"rbd://{FSID}/volumes/victim/snap", "rbd://another-fsid/images/victim/snap"]
)
async def test_other_pools_and_clusters_are_refused_and_never_deleted(
    store: RbdStore, ceph: FakeCeph, url: str
) -> None:
    """Like another bucket for the S3 store: data outside the pool may be Cinder's or
    another tenant's, so it is neither read, sized nor deleted through this store."""
    ceph.pools["volumes"] = {"victim": FakeImage(bytearray(b"theirs"), snaps={"snap": True})}
    ceph.pools["images"]["victim"] = FakeImage(bytearray(b"ours"), snaps={"snap": True})
    for call in (store.get, store.get_size, store.check_deletable, store.delete):
        with pytest.raises(BadStoreUri):
            await call(url)
    assert bytes(ceph.pools["volumes"]["victim"].data) == b"theirs"
    assert ceph.pools["images"]["victim"].snaps == {"snap": True}


# -- deleting --------------------------------------------------------------------------------


async def test_delete_unprotects_removes_the_snapshot_then_the_image(
    store: RbdStore, ceph: FakeCeph
) -> None:
    written = await store.add("gone", pieces(b"x" * 100), size=100)
    await store.delete(written.location)
    assert ceph.pools["images"] == {}
    with pytest.raises(NotFound):
        await store.delete(written.location)


async def test_delete_is_refused_while_clones_exist(store: RbdStore, ceph: FakeCeph) -> None:
    written = await store.add("parent", pieces(b"x" * 100), size=100)
    ceph.pools["images"]["parent"].children.append("volume-1")
    with pytest.raises(InUse) as refused:
        await store.check_deletable(written.location)
    assert refused.value.http_status == 409
    with pytest.raises(InUse):
        await store.delete(written.location)
    assert ceph.pools["images"]["parent"].snaps == {"snap": True}
    assert await read_all(store, written.location) == b"x" * 100
    ceph.pools["images"]["parent"].children.clear()
    await store.check_deletable(written.location)
    await store.delete(written.location)
    assert ceph.pools["images"] == {}


# -- connecting and configuration ------------------------------------------------------------


async def test_every_call_of_the_bindings_runs_off_the_event_loop(
    store: RbdStore, ceph: FakeCeph
) -> None:
    written = await store.add("threads", pieces(payload(100 * KIB)), size=None)
    await read_all(store, written.location)
    await store.delete(written.location)
    assert ceph.threads
    assert threading.main_thread().name not in ceph.threads


@pytest.mark.parametrize(
    ("error", "expected", "words"),
    [
        (FakeError("no such user", errno.ENOENT), StoreMisconfigured, "rbd_store_user"),
        (FakeError("permission denied", errno.EACCES), StoreMisconfigured, "client.glance"),
        (FakeError("timed out", errno.ETIMEDOUT), StoreUnavailable, "did not answer"),
    ],
)
async def test_connect_failures_name_the_store(
    ceph: FakeCeph, error: Exception, expected: type[Exception], words: str
) -> None:
    ceph.connect_error = error
    store = make_store(ceph, user="glance", connect_timeout=5)
    with pytest.raises(expected) as failed:
        await store.open()
    assert "Store ceph" in str(failed.value)
    assert words in str(failed.value)


async def test_a_missing_pool_is_a_misconfiguration(ceph: FakeCeph) -> None:
    store = make_store(ceph, pool="nope")
    with pytest.raises(StoreMisconfigured) as failed:
        await store.open()
    assert "nope" in failed.value.message and "rbd_store_pool" in failed.value.message


def test_missing_bindings_give_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_module(name: str) -> types.ModuleType:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr("spyglass.stores.rbd_cluster.importlib.import_module", no_module)
    with pytest.raises(ConfigError) as failed:
        RbdStore("ceph")
    message = str(failed.value)
    assert "\n" not in message
    assert "python3-rados" in message and "python3-rbd" in message


@dataclass
class Options:
    values: dict[str, object]

    @property
    def data_dir(self) -> Any:
        raise AssertionError("the RBD store has no local data")

    def get(self, name: str) -> object:
        return self.values.get(name)

    def server_option(self, section: str, name: str) -> object:
        raise KeyError(name)


def test_from_options_reads_upstreams_option_names(monkeypatch: pytest.MonkeyPatch) -> None:
    ceph = FakeCeph()
    monkeypatch.setattr("spyglass.stores.rbd.load_bindings", ceph.bindings)
    store = RbdStore.from_options(
        "fast",
        Options(
            {
                "rbd_store_chunk_size": 4,
                "rbd_store_pool": "vms",
                "rbd_store_user": "glance",
                "rbd_store_ceph_conf": "/etc/ceph/other.conf",
                "rados_connect_timeout": 7,
                "rbd_thin_provisioning": True,
            }
        ),
    )
    config = store.cluster.config
    assert (store.chunk_size, store.order, store.pool) == (4 * 1024 * 1024, 22, "vms")
    assert (config.user, config.conffile, config.timeout) == ("glance", "/etc/ceph/other.conf", 7)
    assert store.properties() == {
        "chunk_size": 4 * 1024 * 1024,
        "pool": "vms",
        "thin_provisioning": True,
    }


def test_timeouts_go_to_librados_only_when_set(ceph: FakeCeph) -> None:
    store = make_store(ceph, connect_timeout=3)
    handle = store.cluster.connected()
    assert handle.conf["rados_osd_op_timeout"] == "3"
    assert handle.conf["client_mount_timeout"] == "3"
    assert "rados_osd_op_timeout" not in make_store(ceph).cluster.connected().conf
