"""The RBD store passes the store contract on a real Ceph, and keeps upstream's RBD layout."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import anyio.to_thread
import pytest

from spyglass.errors import BadStoreUri, InUse, StoreMisconfigured
from spyglass.stores.base import Store
from spyglass.stores.rbd import RbdStore
from spyglass.testing.store_contract import Misconfigured, StoreContract, payload
from tests.integration.stores.ceph_backend import (
    USER,
    Ceph,
    ceph,
    foreign_pool,
    osd_start,
    osd_stop,
)

__all__ = ["ceph", "foreign_pool"]  # fixtures
CHUNK = 256 * 1024
BAD_KEY = "AQBt2wVmAAAAABAAdGhpcyBpcyBub3QgYSBrZXk9PQ=="


def rbd_store(ceph: Ceph, backend_id: str = "ceph", **kwargs: object) -> RbdStore:
    options: dict[str, object] = {
        "pool": ceph.pool,
        "user": USER,
        "conffile": ceph.conffile,
        "chunk_size": CHUNK,
        "connect_timeout": 5,
    }
    options.update(kwargs)
    return RbdStore(backend_id, **options)  # type: ignore[arg-type]


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 100_000):
        yield data[start : start + 100_000]


class TestRbdContract(StoreContract):
    cleanup_seconds = 60.0
    outage_seconds = 90.0
    """A writer cut off by a stopped osd keeps its watch on the image for 30 s after
    the osd is back (Ceph's osd_client_watch_timeout); only then may the image go."""
    secrets = (BAD_KEY,)

    ceph: Ceph

    @pytest.fixture
    async def store(self, ceph: Ceph) -> AsyncIterator[Store]:
        self.ceph = ceph
        store = rbd_store(ceph)
        await store.open()
        yield store
        await store.close()

    @pytest.fixture
    def threshold(self) -> int:
        return CHUNK

    async def backend_objects(self, store: Store) -> Collection[str]:
        return await self.ceph.aimages()

    async def stop_backend(self, store: Store) -> None:
        await anyio.to_thread.run_sync(osd_stop)

    async def start_backend(self, store: Store) -> None:
        await anyio.to_thread.run_sync(osd_start)

    async def misconfigured_store(self, store: Store) -> Misconfigured:
        """``client.glance`` with a key Ceph does not know."""
        conf = _bad_keyring_conf(self.ceph)
        return Misconfigured(rbd_store(self.ceph, "wrong-key", conffile=conf), [BAD_KEY])

    @contextlib.asynccontextmanager
    async def storage_full(self, store: Store) -> AsyncIterator[None]:
        """A pool quota of 1 byte, over which a filler object has already gone."""
        ceph = self.ceph
        ctx = ceph.ioctx()
        try:
            ctx.write_full("filler", b"f" * 4096)
            await anyio.to_thread.run_sync(ceph.set_quota, 1)
            yield
        finally:
            await anyio.to_thread.run_sync(ceph.set_quota, 0)
            ctx.remove_object("filler")
            ctx.close()


def _bad_keyring_conf(ceph: Ceph) -> str:
    base = Path(ceph.conffile).parent / "wrong-key"
    base.mkdir(exist_ok=True)
    keyring = base / "keyring"
    keyring.write_text(f"[client.{USER}]\n\tkey = {BAD_KEY}\n")
    conf = base / "ceph.conf"
    text = Path(ceph.conffile).read_text()
    conf.write_text(text.replace("[client]", f"[client]\nkeyring = {keyring}", 1))
    return str(conf)


# -- what only RBD has -----------------------------------------------------------------------


async def test_upstream_layout(ceph: Ceph) -> None:
    """One image named after the Glance image, objects of the chunk size, a protected
    snapshot `snap`, and a location with the cluster's fsid and the pool."""
    store = rbd_store(ceph)
    await store.open()
    try:
        data = payload(3 * CHUNK + 17)
        written = await store.add("layout-image", _pieces(data), size=None)
        fsid = ceph.admin.get_fsid()
        assert written.location == f"rbd://{fsid}/{ceph.pool}/layout-image/snap"
        ctx = ceph.ioctx()
        try:
            with ceph.rbd.Image(ctx, "layout-image", read_only=True) as image:
                assert image.stat()["order"] == 18  # 256 KiB objects
                assert image.size() == len(data)
                assert [s["name"] for s in image.list_snaps()] == ["snap"]
                assert image.is_protected_snap("snap")
        finally:
            ctx.close()
        await store.delete(written.location)
        assert "layout-image" not in ceph.images()
    finally:
        await store.close()


async def test_delete_refused_while_a_clone_exists(ceph: Ceph) -> None:
    store = rbd_store(ceph)
    await store.open()
    try:
        data = payload(CHUNK + 5)
        written = await store.add("cloned-image", _pieces(data), size=len(data))
        await anyio.to_thread.run_sync(ceph.clone, "cloned-image", "cloned-image-volume")
        with pytest.raises(InUse):
            await store.check_deletable(written.location)
        with pytest.raises(InUse):
            await store.delete(written.location)
        result = await store.get(written.location)
        assert b"".join([chunk async for chunk in result.stream]) == data
        await anyio.to_thread.run_sync(ceph.remove, "cloned-image-volume")
        await store.delete(written.location)
        assert [n for n in ceph.images() if n.startswith("cloned-image")] == []
    finally:
        await store.close()


async def test_unknown_user_is_a_clear_error(ceph: Ceph) -> None:
    store = rbd_store(ceph, "nobody-store", user="nobody")
    with pytest.raises(StoreMisconfigured) as failed:
        await store.open()
    assert "nobody-store" in failed.value.message
    assert "client.nobody" in failed.value.message


async def test_missing_pool_is_a_misconfiguration(ceph: Ceph) -> None:
    store = rbd_store(ceph, "no-pool", pool="no-such-pool")
    try:
        with pytest.raises(StoreMisconfigured) as failed:
            await store.open()
        assert "no-such-pool" in failed.value.message
    finally:
        await store.close()


async def test_images_of_other_pools_are_refused_and_never_deleted(
    ceph: Ceph, foreign_pool: str
) -> None:
    """A location in another pool of the cluster (Cinder's volumes, say) is not the store's:
    not read, sized nor deleted, so an image owner who may set locations cannot reach it."""
    victim = f"volume-{uuid.uuid4()}"
    url = await anyio.to_thread.run_sync(ceph.make_image, foreign_pool, victim, b"not yours")
    store = rbd_store(ceph)
    await store.open()
    try:
        assert store.image_of(url) is None
        for call in (store.get, store.get_size, store.check_deletable, store.delete):
            with pytest.raises(BadStoreUri):
                await call(url)
    finally:
        await store.close()
    assert await anyio.to_thread.run_sync(ceph.images, foreign_pool) == [victim, f"{victim}@snap"]
