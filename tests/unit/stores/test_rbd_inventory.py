"""The RBD store's inventory on the fake cluster of ``test_rbd``, and orphan collection
through it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from spyglass.services.gc import OrphanCollector
from spyglass.stores.rbd_cluster import PARTIAL
from spyglass.stores.registry import StoreSet
from tests.unit.services.test_gc import References
from tests.unit.stores.test_rbd import FakeCeph, FakeImage, make_store, pieces


async def test_inventory_lists_finished_images_named_as_ids() -> None:
    ceph = FakeCeph()
    store = make_store(ceph)
    await store.open()
    kept, orphan = str(uuid.uuid4()), str(uuid.uuid4())
    kept_at = (await store.add(kept, pieces(b"k" * 1000), size=1000)).location
    orphan_at = (await store.add(orphan, pieces(b"o" * 300), size=300)).location
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2)
    images = ceph.pools["images"]
    images["volume-of-cinder"] = FakeImage(written=old)  # a shared pool's other images
    images[str(uuid.uuid4()) + PARTIAL + "abc"] = FakeImage(written=old)
    images[orphan].written = old

    listed = {o.location: o async for o in store.inventory()}
    assert set(listed) == {kept_at, orphan_at}
    assert (listed[kept_at].size, listed[orphan_at].size) == (1000, 300)
    assert listed[orphan_at].modified == old.replace(tzinfo=UTC)

    short = f"rbd://{kept}"  # the same data, named without fsid and pool
    collector = OrphanCollector(
        References([short]), StoreSet({"ceph": store}, "ceph"), grace=3600,
        clock=lambda: datetime.now(UTC),
    )  # fmt: skip
    report = (await collector.collect())[0]
    assert [o.location for o in report.orphans] == [orphan_at]
    assert report.young == 0 and report.removed == 1
    assert orphan not in images and kept in images and "volume-of-cinder" in images
    await store.close()
