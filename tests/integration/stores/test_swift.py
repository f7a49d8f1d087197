"""The Swift store on a real Swift (``scripts/swift.sh``): the store contract, and
what is Swift's own: tokens that expire or are revoked, resumed downloads,
upstream's location forms and large objects written by other clients."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Collection, Iterator

import anyio
import anyio.to_thread
import pytest
import swiftclient  # type: ignore[import-untyped]

from spyglass.errors import Duplicate, NotFound, StoreMisconfigured, StoreUnavailable
from spyglass.stores.base import Store
from spyglass.stores.swift import SwiftStore
from spyglass.stores.swift_auth import Token
from spyglass.testing.store_contract import Misconfigured, StoreContract, payload
from tests.integration.stores.swift_backend import (
    KEY,
    USER,
    SwiftProxy,
    container_name,
    run_script,
    swift_main,
    swift_proxy,
)
from tests.server import free_port

__all__ = ["swift_main", "swift_proxy"]  # fixtures
THRESHOLD = 256 * 1024


def make_store(proxy: SwiftProxy, container: str, **options: object) -> SwiftStore:
    settings: dict[str, object] = {
        "container": container,
        "create_container": True,
        "large_object_size": THRESHOLD,
        "segment_size": THRESHOLD,
    }
    settings.update(options)
    return SwiftStore(
        "swift-it",
        references={"ref1": proxy.credentials()},
        **settings,  # type: ignore[arg-type]
    )


async def pieces(data: bytes, size: int = 65_536, pause: float = 0.0) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        if pause:
            await anyio.sleep(pause)


async def read_all(store: Store, location: str) -> bytes:
    result = await store.get(location)
    return b"".join([chunk async for chunk in result.stream])


class TestSwiftContract(StoreContract):
    secrets = (KEY,)
    cleanup_seconds = 20.0

    @pytest.fixture
    def threshold(self) -> int:
        return THRESHOLD

    @pytest.fixture
    async def store(self, swift_proxy: SwiftProxy) -> AsyncIterator[Store]:
        container = container_name("contract")
        swift = make_store(swift_proxy, container)
        await swift.open()
        yield swift
        await swift.close()
        await anyio.to_thread.run_sync(swift_proxy.remove_container, container)

    def proxy(self, store: Store) -> SwiftProxy:
        assert isinstance(store, SwiftStore)
        port = int(store.references["ref1"].auth_address.split(":")[2].split("/")[0])
        return SwiftProxy(port)

    async def backend_objects(self, store: Store) -> Collection[str]:
        assert isinstance(store, SwiftStore)
        return await self.proxy(store).names(store.container)

    async def stop_backend(self, store: Store) -> None:
        await self.proxy(store).astop()

    async def start_backend(self, store: Store) -> None:
        await self.proxy(store).astart()

    async def misconfigured_store(self, store: Store) -> Misconfigured:
        assert isinstance(store, SwiftStore)
        wrong = self.proxy(store).credentials(key="wrong-key-8a1f")
        bad = SwiftStore("swift-bad", references={"ref1": wrong}, container=store.container)
        return Misconfigured(bad, secrets=("wrong-key-8a1f",))

    @contextlib.asynccontextmanager
    async def storage_full(self, store: Store) -> AsyncIterator[None]:
        """A container quota of 1 KiB (Swift's container_quotas middleware)."""
        assert isinstance(store, SwiftStore)
        conn = self.proxy(store).connection()
        quota = "X-Container-Meta-Quota-Bytes"
        await anyio.to_thread.run_sync(
            lambda: conn.post_container(store.container, {quota: "1024"})
        )
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(
                lambda: conn.post_container(store.container, {quota: ""})
            )


@pytest.fixture
def container(swift_main: SwiftProxy) -> Iterator[str]:
    name = container_name("swift")
    yield name
    swift_main.remove_container(name)


async def test_missing_container_without_create_on_put(
    swift_main: SwiftProxy, container: str
) -> None:
    """The server starts such a store read-only; the reason names store and option."""
    store = make_store(swift_main, container, create_container=False)
    try:
        with pytest.raises(StoreMisconfigured) as failed:
            await store.open()
    finally:
        await store.close()
    assert "swift-it" in failed.value.message
    assert container in failed.value.message
    assert "swift_store_create_container_on_put" in failed.value.message


async def test_swift_down_is_unavailable(container: str) -> None:
    down = SwiftProxy(free_port())
    store = make_store(down, container)
    try:
        with pytest.raises(StoreUnavailable) as failed:
            await store.open()
    finally:
        await store.close()
    assert failed.value.http_status == 503
    assert "swift-it" in failed.value.message
    assert not isinstance(failed.value, StoreMisconfigured)


async def test_tokens_expiring_during_a_long_upload_are_renewed(
    swift_main: SwiftProxy, container: str
) -> None:
    """Tokens of a 2-second life; the upload takes several lifetimes."""
    short = SwiftProxy(free_port(), token_life=2)
    await short.astart()
    try:
        store = make_store(short, container, expire_soon=0.5)
        await store.open()
        data = payload(5 * THRESHOLD + 77)
        written = await store.add("slow-upload", pieces(data, 65_536, pause=0.25), size=None)
        assert await read_all(store, written.location) == data
        await store.delete(written.location)
        await store.close()
    finally:
        await short.astop()
    assert await swift_main.names(container) == []


async def test_a_revoked_token_is_replaced(swift_main: SwiftProxy, container: str) -> None:
    store = make_store(swift_main, container)
    await store.open()
    data = payload(3 * THRESHOLD)
    creds = store.references["ref1"]
    good = store.swift.tokens[creds]
    store.swift.tokens[creds] = Token("AUTH_tk" + "0" * 32, good.storage_url, good.expires_at)
    written = await store.add("after-revoke", pieces(data), size=len(data))
    store.swift.tokens[creds] = Token("AUTH_tk" + "1" * 32, good.storage_url, good.expires_at)
    assert await read_all(store, written.location) == data
    await store.delete(written.location)
    await store.close()


async def test_a_download_broken_off_resumes_where_it_stopped(
    swift_proxy: SwiftProxy, container: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store(swift_proxy, container, retry_get_count=5, large_object_size=64 << 20)
    await store.open()
    data = payload(48 << 20)
    written = await store.add("resumed", pieces(data, 1 << 20), size=len(data))
    result = await store.get(written.location)
    received = bytearray()
    stream = aiter(result.stream)
    received += await anext(stream)
    await swift_proxy.astop()  # the connection drops; what the socket holds still arrives
    await swift_proxy.astart()
    with caplog.at_level(logging.INFO, logger="spyglass.stores.swift"):
        async for chunk in stream:
            received += chunk
    assert bytes(received) == data
    assert "resuming a download" in caplog.text
    await store.delete(written.location)
    await store.close()


async def test_upstream_locations_resolve(swift_main: SwiftProxy, container: str) -> None:
    """``swift+http://user:key@auth/...`` as older upstream databases hold, and the
    ``swift+config://`` form, for data upstream wrote (a DLO of its segments)."""
    conn = swift_main.connection()
    conn.put_container(container)
    parts = [payload(1000, seed=n) for n in range(3)]
    for n, part in enumerate(parts, start=1):
        conn.put_object(container, f"legacy-{n:05d}", contents=part)
    conn.put_object(
        container, "legacy", contents=b"", headers={"X-Object-Manifest": f"{container}/legacy-"}
    )
    store = make_store(swift_main, container)
    await store.open()
    address = swift_main.auth_url.removeprefix("http://")
    legacy = f"swift+http://{USER}:{KEY}@{address}/{container}/legacy"
    assert await store.get_size(legacy) == 3000
    assert await read_all(store, legacy) == b"".join(parts)
    assert await read_all(store, f"swift+config://ref1/{container}/legacy") == b"".join(parts)
    assert store.image_of(legacy) is None  # not in the store's own area
    await store.delete(legacy)
    assert await swift_main.names(container) == []
    elsewhere = f"swift+http://{USER}:{KEY}@192.0.2.1:8080/auth/v1.0/{container}/legacy"
    with pytest.raises(Exception, match="not one this store may use"):
        await store.get(elsewhere)
    await store.close()


async def test_static_large_objects_of_other_clients(
    swift_main: SwiftProxy, container: str
) -> None:
    """An SLO (what swiftclient's segmented upload can write) reads and deletes with
    its segments."""
    conn = swift_main.connection()
    conn.put_container(container)
    parts = [payload(1 << 20, seed=n) for n in range(2)]
    manifest = []
    for n, part in enumerate(parts):
        etag = conn.put_object(container, f"slo-seg/{n}", contents=part)
        manifest.append(
            {"path": f"/{container}/slo-seg/{n}", "etag": etag, "size_bytes": len(part)}
        )
    conn.put_object(
        container, "slo", contents=json.dumps(manifest), query_string="multipart-manifest=put"
    )
    store = make_store(swift_main, container)
    await store.open()
    location = f"swift+config://ref1/{container}/slo"
    assert await read_all(store, location) == b"".join(parts)
    await store.delete(location)
    assert await swift_main.names(container) == []
    with pytest.raises(NotFound):
        await store.get(location)
    await store.close()


async def test_our_large_objects_read_with_swiftclient(
    swift_main: SwiftProxy, container: str
) -> None:
    """What upstream's driver (swiftclient) sees of an image we segmented."""
    store = make_store(swift_main, container)
    await store.open()
    data = payload(3 * THRESHOLD + 5)
    written = await store.add("ours", pieces(data), size=len(data))
    headers, body = await anyio.to_thread.run_sync(
        lambda: swift_main.connection().get_object(container, "ours")
    )
    assert body == data
    assert headers["x-object-manifest"] == f"{container}/ours-"
    names = await swift_main.names(container)
    assert names == ["ours", "ours-00001", "ours-00002", "ours-00003", "ours-00004"]
    await store.delete(written.location)
    await store.close()


@pytest.mark.parametrize("size", [1000, 3 * THRESHOLD])
async def test_image_data_is_never_overwritten(
    swift_main: SwiftProxy, container: str, size: int
) -> None:
    store = make_store(swift_main, container)
    await store.open()
    first = payload(size)
    written = await store.add("twice", pieces(first), size=size)
    with pytest.raises(Duplicate):
        await store.add("twice", pieces(payload(size, seed=1)), size=size)
    assert await read_all(store, written.location) == first
    await store.delete(written.location)
    assert await swift_main.names(container) == []
    await store.close()


def test_script_proxy_stop_of_an_unknown_port_is_a_no_op(swift_main: SwiftProxy) -> None:
    assert run_script("proxy-stop", str(free_port())).returncode == 0
    assert swiftclient is not None


async def test_a_killed_uploads_segments_are_discarded(
    swift_main: SwiftProxy, container: str
) -> None:
    """What a server killed mid-upload leaves (segments, perhaps a manifest) goes when the
    image is recovered; other images' objects stay."""
    store = make_store(swift_main, container)
    await store.open()
    image_id = "7d2a4c1e-55f1-4a55-9b3d-3c8d5e1f0a11"
    other = "8e3b5d2f-66a2-4b66-8c4e-4d9e6f2a1b22"
    creds = store.references[store.reference]
    try:
        for name in (f"{image_id}-00001", f"{image_id}-00002", image_id, f"{other}-00001"):
            response = await store.swift.call(creds, "PUT", container, name, content=b"x" * 10)
            assert response.status_code == 201
        await store.discard_partial(image_id)
        assert await swift_main.names(container) == [f"{other}-00001"]
        await store.discard_partial(image_id)  # nothing left: no error
    finally:
        await store.close()
