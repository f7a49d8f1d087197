"""The outbound client against a real HTTP server on loopback (which the tests allow)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from spyglass.errors import (
    ImageTooLarge,
    NotFound,
    OutboundDenied,
    RangeNotSatisfiable,
    RemoteRefused,
    RemoteUnavailable,
)
from spyglass.net.outbound import OutboundClient
from spyglass.net.rules import OutboundLimits, OutboundRules
from spyglass.types import ByteStream
from tests.http_origin import HttpOrigin

DATA = bytes(range(256)) * 1024  # 256 KiB
LOOPBACK = OutboundRules.build(allowed_ports=(), allowed_networks=("127.0.0.0/8",))


@pytest.fixture
async def client() -> AsyncIterator[OutboundClient]:
    outbound = OutboundClient(LOOPBACK, OutboundLimits(read_timeout=2.0))
    yield outbound
    await outbound.aclose()


async def read(stream: ByteStream) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def test_open_streams_the_body_with_its_size(
    origin: HttpOrigin, client: OutboundClient
) -> None:
    size, stream = await client.open(origin.put("/a.img", DATA))
    assert size == len(DATA)
    assert await read(stream) == DATA


async def test_head_tells_size_and_ranges(origin: HttpOrigin, client: OutboundClient) -> None:
    info = await client.head(origin.put("/a.img", DATA))
    assert (info.size, info.ranges) == (len(DATA), True)
    plain = await client.head(origin.put("/b.img", DATA, ranges=False))
    assert (plain.size, plain.ranges) == (len(DATA), False)
    assert [s.method for s in origin.requests("/a.img")] == ["HEAD"]


@pytest.mark.parametrize("ranges", [True, False])
@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 9, DATA[:10]),
        (1000, 70000, DATA[1000:70001]),
        (-100, None, DATA[-100:]),
        (5, None, DATA[5:]),
    ],
)
async def test_ranges_are_served_whether_or_not_the_server_does(
    origin: HttpOrigin,
    client: OutboundClient,
    ranges: bool,
    start: int,
    end: int | None,
    expected: bytes,
) -> None:
    url = origin.put("/a.img", DATA, ranges=ranges)
    size, stream = await client.open(url, start=start, end=end)
    assert size == len(expected)
    assert await read(stream) == expected
    assert next(origin.requests("/a.img")).range is not None


async def test_a_range_beyond_the_end_is_416(origin: HttpOrigin, client: OutboundClient) -> None:
    for ranges in (True, False):
        url = origin.put(f"/{ranges}.img", DATA, ranges=ranges)
        with pytest.raises(RangeNotSatisfiable):
            await client.open(url, start=len(DATA))


async def test_redirects_are_followed_and_each_hop_checked(
    origin: HttpOrigin, client: OutboundClient
) -> None:
    origin.put("/final.img", DATA)
    origin.put("/hop2", redirect="/final.img", status=307)
    url = origin.put("/hop1", redirect=origin.url("/hop2"), status=301)
    size, stream = await client.open(url)
    assert (size, await read(stream)) == (len(DATA), DATA)
    evil = origin.put("/evil", redirect="http://169.254.169.254/latest/meta-data/")
    with pytest.raises(OutboundDenied, match="private"):
        await client.open(evil)
    ftp = origin.put("/ftp", redirect="ftp://example.org/x")
    with pytest.raises(OutboundDenied, match="http and https"):
        await client.head(ftp)


async def test_the_redirect_limit_holds(origin: HttpOrigin) -> None:
    origin.put("/loop", redirect="/loop")
    origin.put("/two", redirect="/one")
    origin.put("/one", redirect="/a.img")
    origin.put("/a.img", DATA)
    client = OutboundClient(LOOPBACK, OutboundLimits(max_redirects=2))
    try:
        with pytest.raises(RemoteRefused, match="more than 2 times"):
            await client.head(origin.url("/loop"))
        assert len(list(origin.requests("/loop"))) == 3
        assert (await client.head(origin.url("/two"))).size == len(DATA)
    finally:
        await client.aclose()


async def test_loopback_is_refused_unless_allowed(origin: HttpOrigin) -> None:
    url = origin.put("/a.img", DATA)
    client = OutboundClient(OutboundRules.build(allowed_ports=()))
    try:
        with pytest.raises(OutboundDenied, match="loopback"):
            await client.head(url)
        with pytest.raises(OutboundDenied, match="loopback"):
            await client.open(origin.url("/a.img", host="localhost"))
    finally:
        await client.aclose()
    assert origin.seen == []


async def test_the_connection_goes_to_the_checked_address(origin: HttpOrigin) -> None:
    """DNS is asked once per request and the answer is what the socket connects to:
    a resolver that would answer differently the next time changes nothing."""
    answers = ["127.0.0.1", "169.254.169.254"]
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return [answers[min(len(asked), 2) - 1]]

    client = OutboundClient(LOOPBACK, resolver=rebinding)
    try:
        _, stream = await client.open(
            origin.put("/a.img", DATA).replace("127.0.0.1", "images.test")
        )
        assert await read(stream) == DATA
        with pytest.raises(OutboundDenied, match="private"):
            await client.head(origin.url("/a.img", host="images.test"))
    finally:
        await client.aclose()
    assert asked == ["images.test", "images.test"]
    (seen,) = origin.requests("/a.img")
    assert seen.host == f"images.test:{origin.port}"


async def test_a_name_with_any_refused_address_is_refused(origin: HttpOrigin) -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.1", "10.0.0.1"]

    client = OutboundClient(LOOPBACK, resolver=mixed)
    try:
        with pytest.raises(OutboundDenied):
            await client.head(origin.put("/a.img", DATA).replace("127.0.0.1", "images.test"))
    finally:
        await client.aclose()
    assert origin.seen == []


async def test_credentials_go_as_basic_auth_and_never_to_another_host(
    origin: HttpOrigin, client: OutboundClient
) -> None:
    origin.put("/a.img", DATA)
    origin.put("/same", redirect="/a.img")
    origin.put("/away", redirect=origin.url("/a.img", host="localhost"))
    base = f"http://user:p%40ss@127.0.0.1:{origin.port}"
    assert (await client.head(f"{base}/same")).size == len(DATA)
    assert (await client.head(f"{base}/away")).size == len(DATA)
    expected = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert [s.authorization for s in origin.requests("/same")] == [expected]
    assert [s.authorization for s in origin.requests("/a.img")] == [expected, None]


async def test_remote_errors_become_spyglass_errors(
    origin: HttpOrigin, client: OutboundClient
) -> None:
    with pytest.raises(NotFound):
        await client.open(origin.url("/missing"))
    with pytest.raises(RemoteRefused, match="403"):
        await client.open(origin.put("/forbidden", status=403))
    with pytest.raises(RemoteUnavailable, match="503"):
        await client.head(origin.put("/down", status=503))
    with pytest.raises(RemoteRefused, match="gzip"):
        await client.open(origin.put("/gz", DATA, headers={"Content-Encoding": "gzip"}))


async def test_a_closed_port_is_unavailable(client: OutboundClient) -> None:
    from tests.server import free_port

    with pytest.raises(RemoteUnavailable, match="cannot be reached"):
        await client.head(f"http://127.0.0.1:{free_port()}/x")


async def test_a_stalled_server_times_out(origin: HttpOrigin) -> None:
    client = OutboundClient(LOOPBACK, OutboundLimits(read_timeout=0.3))
    try:
        _, stream = await client.open(origin.put("/slow", DATA, stall=2.0))
        with pytest.raises(RemoteUnavailable, match="stopped sending"):
            await read(stream)
    finally:
        await client.aclose()


async def test_a_short_body_fails(origin: HttpOrigin, client: OutboundClient) -> None:
    _, stream = await client.open(origin.put("/short", DATA, truncate=1000))
    with pytest.raises(RemoteUnavailable):
        await read(stream)


async def test_the_size_cap_holds_with_and_without_a_length(origin: HttpOrigin) -> None:
    client = OutboundClient(LOOPBACK, OutboundLimits(max_size=len(DATA) - 1))
    try:
        with pytest.raises(ImageTooLarge):
            await client.open(origin.put("/a.img", DATA))
        size, stream = await client.open(origin.put("/nolength", DATA, length=False))
        assert size is None
        with pytest.raises(ImageTooLarge):
            await read(stream)
        size, stream = await client.open(origin.url("/a.img"), max_size=len(DATA))
        assert await read(stream) == DATA
    finally:
        await client.aclose()


async def test_a_body_without_length_streams_to_its_end(
    origin: HttpOrigin, client: OutboundClient
) -> None:
    size, stream = await client.open(origin.put("/nolength", DATA, length=False))
    assert size is None
    assert await read(stream) == DATA


async def test_check_resolves_and_checks_without_a_request(origin: HttpOrigin) -> None:
    async def private(host: str, port: int) -> list[str]:
        return ["10.1.1.1"]

    client = OutboundClient(OutboundRules.build(allowed_ports=()), resolver=private)
    try:
        with pytest.raises(OutboundDenied, match="private"):
            await client.check_reachable("http://images.test/a.img")
        with pytest.raises(OutboundDenied, match="private"):
            await client.check_reachable(origin.url("/a.img"))
        with pytest.raises(OutboundDenied, match="http and https"):
            client.check("gopher://images.test/")
    finally:
        await client.aclose()
    assert origin.seen == []


async def test_through_a_proxy_the_proxy_gets_the_name(origin: HttpOrigin) -> None:
    """With ``http_proxy_information`` the operator's proxy connects: it is sent the
    URL by name (the address was checked here first)."""

    async def public(host: str, port: int) -> list[str]:
        return ["192.0.2.10"] if host == "private.test" else ["8.8.8.8"]

    origin.put("http://images.test/a.img", DATA)
    proxy = f"127.0.0.1:{origin.port}"
    client = OutboundClient(OutboundRules(), proxies={"http": proxy}, resolver=public)
    try:
        size, stream = await client.open("http://images.test/a.img")
        assert (size, await read(stream)) == (len(DATA), DATA)
        with pytest.raises(OutboundDenied):
            await client.head("http://private.test/a.img")
    finally:
        await client.aclose()
    assert [s.path for s in origin.seen] == ["http://images.test/a.img"]
