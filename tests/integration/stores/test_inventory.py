"""``Store.inventory`` on real backends, and orphan collection through it: what ``add``
wrote is listed with its size, keys that are not image data are not, and ``OrphanCollector``
removes only unreferenced data."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from spyglass.services.gc import OrphanCollector
from spyglass.stores.base import Store
from spyglass.stores.registry import StoreSet
from spyglass.stores.s3 import S3Settings, S3Store
from spyglass.stores.swift import SwiftStore
from tests.integration.stores.swift_backend import SwiftProxy, container_name, swift_main
from tests.integration.stores.test_s3 import (
    MOTO_PORT,
    SWIFT_ACCESS,
    SWIFT_PORT,
    SWIFT_SECRET,
    _empty_bucket,
    moto_server,
    s3_client,
    swift_server,
)
from tests.unit.services.test_gc import References

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

__all__ = ["moto_server", "swift_main", "swift_server"]  # the fixtures, used by name


async def _bytes(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _check_inventory_and_gc(store: Store) -> None:
    kept, orphan = str(uuid.uuid4()), str(uuid.uuid4())
    kept_at = (await store.add(kept, _bytes(b"kept data"), size=None)).location
    orphan_at = (await store.add(orphan, _bytes(b"orphaned data!"), size=None)).location
    listed = {o.location: o async for o in store.inventory()}
    assert {kept_at, orphan_at} <= set(listed)
    assert (listed[kept_at].size, listed[orphan_at].size) == (9, 14)
    assert abs(listed[kept_at].modified - datetime.now(UTC)) < timedelta(minutes=5)

    stores = StoreSet({"s": store}, "s")
    young = OrphanCollector(
        References([kept_at]), stores, grace=3600, clock=lambda: datetime.now(UTC)
    )
    assert (await young.collect())[0].removed == 0  # everything is younger than the grace
    later = OrphanCollector(
        References([kept_at]), stores, grace=0, clock=lambda: datetime.now(UTC) + timedelta(1)
    )
    report = (await later.collect())[0]
    assert [o.location for o in report.orphans] == [orphan_at]
    assert report.removed == 1
    listed_after = {o.location async for o in store.inventory()}
    assert kept_at in listed_after and orphan_at not in listed_after
    assert (await store.get_size(kept_at)) == 9


@pytest.mark.usefixtures("moto_server")
async def test_s3_inventory_lists_image_objects_only() -> None:
    bucket = f"spyglass-inv-{uuid.uuid4().hex[:10]}"
    settings = S3Settings(
        host=f"127.0.0.1:{MOTO_PORT}", access_key="inventory", secret_key="inventory-secret",
        bucket=bucket, region="us-east-1", create_bucket=True, addressing_style="path",
    )  # fmt: skip
    store = S3Store("s3", settings)
    await store.open()
    try:
        await _check_inventory_and_gc(store)
        async with s3_client(MOTO_PORT, "inventory", "inventory-secret") as client:
            await client.put_object(Bucket=bucket, Key="not-an-image.txt", Body=b"x")
            listed = [o.location async for o in store.inventory()]
            assert not [x for x in listed if x.endswith("not-an-image.txt")]
            for item in (await client.list_objects_v2(Bucket=bucket)).get("Contents", []):
                await client.delete_object(Bucket=bucket, Key=item["Key"])
            await client.delete_bucket(Bucket=bucket)
    finally:
        await store.close()


async def test_swift_inventory_lists_objects_and_manifests_not_segments(
    swift_main: SwiftProxy,
) -> None:
    container = container_name("inventory")
    store = SwiftStore(
        "swift-inv",
        references={"ref1": swift_main.credentials()},
        container=container,
        create_container=True,
        large_object_size=64 * 1024,
        segment_size=64 * 1024,
    )
    await store.open()
    try:
        await _check_inventory_and_gc(store)
        segmented = str(uuid.uuid4())
        big = (await store.add(segmented, _bytes(b"s" * 200_000), size=None)).location
        listed = {o.location: o for o in [o async for o in store.inventory()]}
        assert big in listed  # the manifest; its segments are not listed apart
        assert not [x for x in listed if f"{segmented}-" in x]
        later = OrphanCollector(
            References([]), StoreSet({"s": store}, "s"), grace=0,
            clock=lambda: datetime.now(UTC) + timedelta(1),
        )  # fmt: skip
        assert (await later.collect())[0].removed >= 2
        assert await swift_main.names(container) == []  # segments went with the manifest
    finally:
        await store.close()
        swift_main.remove_container(container)


async def _begin_upload(client: S3Client, bucket: str, key: str) -> str:
    """A multipart upload with one part, never completed: what a killed server leaves."""
    upload_id = (await client.create_multipart_upload(Bucket=bucket, Key=key))["UploadId"]
    await client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"p" * 65536
    )
    return upload_id


async def _check_unfinished_uploads_are_aborted(port: int, access: str, secret: str) -> None:
    bucket = f"spyglass-mpu-{uuid.uuid4().hex[:10]}"
    settings = S3Settings(
        host=f"127.0.0.1:{port}", access_key=access, secret_key=secret, bucket=bucket,
        region="us-east-1", create_bucket=True, addressing_style="path",
    )  # fmt: skip
    store = S3Store("s3", settings)
    old, busy, young = (str(uuid.uuid4()) for _ in range(3))
    async with s3_client(port, access, secret) as client:
        await client.create_bucket(Bucket=bucket)
        try:
            await store.open()
            old_upload = await _begin_upload(client, bucket, old)
            await _begin_upload(client, bucket, busy)  # its image is being written
            await _begin_upload(client, bucket, "not-an-image")  # another user's key
            await asyncio.sleep(2.1)  # S3 dates parts to the second
            await _begin_upload(client, bucket, young)
            listed = {w.image_id: w async for w in store.unfinished_writes()}
            assert sorted(listed) == sorted([old, busy, young])
            assert listed[old].handle == old_upload
            # an hour's grace that the old upload has just passed, and the young one has not
            now = listed[old].modified + timedelta(seconds=3601)
            collector = OrphanCollector(
                References([], writing={busy}), StoreSet({"s": store}, "s"), grace=3600,
                clock=lambda: now,
            )  # fmt: skip

            dry = (await collector.collect(dry_run=True))[0]
            assert [w.image_id for w in dry.unfinished] == [old]
            assert (dry.aborted, dry.young) == (0, 2)
            assert len((await client.list_multipart_uploads(Bucket=bucket))["Uploads"]) == 4

            report = (await collector.collect())[0]
            assert [w.image_id for w in report.unfinished] == [old]
            assert (report.aborted, report.failed) == (1, [])
            left = (await client.list_multipart_uploads(Bucket=bucket)).get("Uploads", [])
            assert sorted(u["Key"] for u in left) == sorted([busy, young, "not-an-image"])
            assert old not in {w.image_id async for w in store.unfinished_writes()}
        finally:
            await store.close()
            await _empty_bucket(client, bucket)


@pytest.mark.usefixtures("moto_server")
async def test_gc_aborts_old_unfinished_multipart_uploads_on_moto() -> None:
    await _check_unfinished_uploads_are_aborted(MOTO_PORT, "gc-access", "gc-secret")


@pytest.mark.usefixtures("swift_server")
async def test_gc_aborts_old_unfinished_multipart_uploads_on_swift_s3api() -> None:
    await _check_unfinished_uploads_are_aborted(SWIFT_PORT, SWIFT_ACCESS, SWIFT_SECRET)
