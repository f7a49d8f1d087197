"""The HTTP store: the read side of the store contract against a real HTTP server on
loopback (with and without byte-range support), and what only a read-only store does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest

from spyglass.config import load_settings
from spyglass.errors import BadStoreUri, Gone, NotFound, OutboundDenied, RemoteRefused
from spyglass.net.outbound import OutboundClient
from spyglass.net.rules import OutboundLimits, OutboundRules
from spyglass.stores.base import ByteRange, Capability, Store
from spyglass.stores.http import HttpStore
from spyglass.stores.registry import build_store_set
from spyglass.testing.store_contract import StoreContract, payload
from tests.http_origin import HttpOrigin

LOOPBACK = OutboundRules.build(allowed_ports=(), allowed_networks=("127.0.0.0/8",))


@pytest.fixture
async def http_store() -> AsyncIterator[HttpStore]:
    store = HttpStore("http", client=OutboundClient(LOOPBACK, OutboundLimits(read_timeout=5)))
    await store.open()
    yield store
    await store.close()


class TestHttpContract(StoreContract):
    ranges = True

    @pytest.fixture
    def store(self, http_store: HttpStore, origin: HttpOrigin) -> Store:
        self.origin = origin
        self.seeded: set[str] = set()
        return http_store

    async def backend_objects(self, store: Store) -> Collection[str]:
        """What is on the server besides the data the test put there: a read-only
        store never adds (or removes) anything, so this stays empty."""
        return [path for path in self.origin.resources if path not in self.seeded]

    async def seed(self, store: Store, image_id: str, data: bytes) -> str:
        self.seeded.add(f"/images/{image_id}")
        return self.origin.put(f"/images/{image_id}", data, ranges=self.ranges)


class TestHttpContractWithoutRanges(TestHttpContract):
    """A server that ignores ``Range``: the store cuts the range out of the whole body."""

    ranges = False


async def test_the_store_is_read_only_and_leaves_remote_data_alone(
    http_store: HttpStore, origin: HttpOrigin
) -> None:
    assert not http_store.capabilities & (Capability.WRITE | Capability.DELETE)
    url = origin.put("/a.img", b"remote bytes")

    async def nothing() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(Gone):
        await http_store.add("some-image", nothing(), size=1)
    await http_store.delete(url)
    assert [s.method for s in origin.requests("/a.img")] == []
    result = await http_store.get(url, byte_range=ByteRange(7))
    assert (result.size, b"".join([c async for c in result.stream])) == (5, b"bytes")


async def test_size_comes_from_head(http_store: HttpStore, origin: HttpOrigin) -> None:
    data = payload(100_000)
    assert await http_store.get_size(origin.put("/a.img", data)) == len(data)
    assert [s.method for s in origin.requests("/a.img")] == ["HEAD"]
    with pytest.raises(BadStoreUri, match="how large"):
        await http_store.get_size(origin.put("/nolength", data, length=False))
    with pytest.raises(RemoteRefused, match="how large"):
        await http_store.get(origin.url("/nolength"))
    with pytest.raises(NotFound):
        await http_store.get_size(origin.url("/missing"))


async def test_redirects_are_followed_for_size_and_data(
    http_store: HttpStore, origin: HttpOrigin
) -> None:
    data = payload(70_000)
    origin.put("/real.img", data)
    url = origin.put("/moved.img", redirect="/real.img", status=301)
    assert await http_store.get_size(url) == len(data)
    result = await http_store.get(url)
    assert b"".join([c async for c in result.stream]) == data


async def test_built_from_the_configuration_with_its_rules(tmp_path: Path) -> None:
    """``stores = file,http`` (the default) builds an HTTP store bound by the outbound
    rules; loopback is refused until the operator allows it."""
    conf = tmp_path / "glance-api.conf"
    conf.write_text("[glance_store]\nhttps_insecure = false\n")
    stores = build_store_set(load_settings([conf]), tmp_path)
    store = stores.for_location("https://example.org/a.img")
    assert isinstance(store, HttpStore) and store.backend_id == "http"
    assert store.client.rules == OutboundRules()
    with HttpOrigin() as origin:
        url = origin.put("/a.img", b"data")
        with pytest.raises(OutboundDenied, match="port"):
            await store.get_size(url)
        conf.write_text(
            f"[import_filtering_opts]\nallowed_ports = {origin.port}\n"
            "allowed_networks = 127.0.0.0/8\n"
        )
        allowed = build_store_set(load_settings([conf]), tmp_path).for_location(url)
        assert await allowed.get_size(url) == 4
        await allowed.close()
    await store.close()


async def test_a_multi_store_http_backend_reads_its_own_section(tmp_path: Path) -> None:
    conf = tmp_path / "glance-api.conf"
    conf.write_text(
        "[DEFAULT]\nenabled_backends = fast:file, web:http\n"
        "[glance_store]\ndefault_backend = fast\n"
        "[web]\nhttps_insecure = false\nstore_description = Remote mirrors\n"
        "[import_filtering_opts]\nallowed_hosts = mirror.example.org\n"
    )
    stores = build_store_set(load_settings([conf]), tmp_path)
    web = stores.for_location("https://mirror.example.org/a.img")
    assert isinstance(web, HttpStore) and web.backend_id == "web"
    assert stores.descriptions["web"] == "Remote mirrors"
    assert web.client.rules.allowed_hosts == {"mirror.example.org"}
    with pytest.raises(OutboundDenied, match=r"host other\.example\.org"):
        await web.get_size("https://other.example.org/a.img")
    await stores.close()
