"""Tokens of the Swift store's client: renewed before expiry, once more on a 401, ServiceNet."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from spyglass.errors import StoreMisconfigured, StoreUnavailable
from spyglass.stores.swift_auth import Catalog, Credentials
from spyglass.stores.swift_client import SwiftClient, object_path

CREDS = Credentials("http://swift.example/auth/v1.0", "test:tester", "testing", "1")


class FakeSwift:
    """tempauth handing out tok1, tok2...; the account accepts only ``valid`` tokens."""

    def __init__(self, lifetime: int = 3600) -> None:
        self.lifetime = lifetime
        self.issued = 0
        self.valid: set[str] = set()
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/v1.0":
            self.issued += 1
            token = f"tok{self.issued}"
            self.valid.add(token)
            headers = {
                "X-Auth-Token": token,
                "X-Storage-Url": "http://swift.example/v1/AUTH_test",
                "X-Auth-Token-Expires": str(self.lifetime),
            }
            return httpx.Response(200, headers=headers)
        token = request.headers.get("X-Auth-Token", "")
        self.seen.append((request.url.host, request.url.raw_path.decode(), token))
        return httpx.Response(204 if token in self.valid else 401)


def _client(fake: FakeSwift, **options: object) -> SwiftClient:
    client = SwiftClient("s", catalog=Catalog(), **options)  # type: ignore[arg-type]
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return client


async def test_a_refused_token_is_replaced_once() -> None:
    fake = FakeSwift()
    client = _client(fake)
    assert (await client.call(CREDS, "HEAD", "glance")).status_code == 204
    fake.valid.clear()  # revoked
    assert (await client.call(CREDS, "HEAD", "glance")).status_code == 204
    assert [token for _, _, token in fake.seen] == ["tok1", "tok1", "tok2"]
    await client.aclose()


async def test_a_streamed_body_is_not_sent_twice() -> None:
    fake = FakeSwift()
    client = _client(fake)
    await client.token(CREDS)
    fake.valid.clear()

    async def body() -> AsyncIterator[bytes]:
        yield b"data"

    with pytest.raises(StoreMisconfigured, match="refused a fresh token"):
        await client.call(CREDS, "PUT", "glance", "obj", content=body(), replayable=False)
    assert len(fake.seen) == 1
    assert CREDS not in client.tokens  # the next request authenticates again
    await client.aclose()


async def test_tokens_expiring_soon_are_renewed_first() -> None:
    fake = FakeSwift(lifetime=30)
    client = _client(fake, expire_soon=60.0)
    await client.call(CREDS, "HEAD", "glance")
    await client.call(CREDS, "HEAD", "glance")
    assert fake.issued == 2
    await client.aclose()


async def test_servicenet_prefixes_the_storage_host() -> None:
    fake = FakeSwift()
    client = _client(fake, snet=True)
    await client.call(CREDS, "HEAD", "glance", "a/b c")
    assert fake.seen == [("snet-swift.example", "/v1/AUTH_test/glance/a%2Fb%20c", "tok1")]
    await client.aclose()


async def test_unreachable_swift_is_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/v1.0":
            return FakeSwift()(request)
        raise httpx.ConnectError("refused", request=request)

    client = SwiftClient("images", catalog=Catalog())
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(down))
    with pytest.raises(StoreUnavailable, match="Swift store images is unavailable"):
        await client.call(CREDS, "GET", "glance")
    await client.aclose()


def test_object_paths_quote_names_whole() -> None:
    assert object_path("c") == "/c"
    assert object_path("c d", "x/y?") == "/c%20d/x%2Fy%3F"
