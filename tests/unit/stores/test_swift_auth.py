"""Keystone v2/v3 and tempauth token requests of the Swift store, against fake services."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from spyglass.errors import StoreMisconfigured, StoreUnavailable
from spyglass.stores.swift_auth import Catalog, Credentials, authenticate, v2_request, v3_request

SWIFT = "https://swift.example/v1/AUTH_p1"


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def test_v3_request_is_project_scoped_with_domains() -> None:
    creds = Credentials(
        "http://ks.example:5000/v3/",
        "service:glance",
        "pw",
        "3",
        user_domain_id=None,
        user_domain_name="Users",
        project_domain_id="dom1",
    )
    url, body = v3_request(creds)
    assert url == "http://ks.example:5000/v3/auth/tokens"
    auth = body["auth"]
    assert auth["identity"]["password"]["user"] == {
        "name": "glance",
        "password": "pw",
        "domain": {"name": "Users"},
    }
    assert auth["scope"] == {"project": {"name": "service", "domain": {"id": "dom1"}}}


def test_v2_request_uses_the_tenant_name() -> None:
    url, body = v2_request(Credentials("http://ks.example:5000/v2.0", "service:glance", "pw"))
    assert url == "http://ks.example:5000/v2.0/tokens"
    assert body == {
        "auth": {
            "tenantName": "service",
            "passwordCredentials": {"username": "glance", "password": "pw"},
        }
    }


def _v3_catalog(interface: str, region: str, url: str) -> dict[str, object]:
    return {
        "type": "object-store",
        "endpoints": [{"interface": interface, "region_id": region, "url": url}],
    }


async def test_v3_picks_the_endpoint_by_interface_and_region() -> None:
    expires = (datetime.now(UTC) + timedelta(seconds=600)).isoformat().replace("+00:00", "Z")

    def keystone(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v3/auth/tokens"
        catalog = [
            _v3_catalog("public", "RegionOne", "https://public.example/v1/AUTH_p1"),
            _v3_catalog("internal", "RegionOne", "https://one.example/v1/AUTH_p1"),
            _v3_catalog("internal", "RegionTwo", SWIFT + "/"),
            {"type": "image", "endpoints": [{"interface": "internal", "url": "http://x"}]},
        ]
        body = {"token": {"expires_at": expires, "catalog": catalog}}
        return httpx.Response(201, json=body, headers={"X-Subject-Token": "tok3"})

    creds = Credentials("http://ks.example:5000", "p1:u", "pw", "3")
    catalog = Catalog(endpoint_type="internalURL", region="RegionTwo")
    async with _client(keystone) as client:
        token = await authenticate(client, creds, catalog, store="s")
    assert (token.value, token.storage_url) == ("tok3", SWIFT)
    assert not token.expires_within(500) and token.expires_within(700)
    assert "tok3" not in repr(token)


async def test_v2_reads_the_service_catalog() -> None:
    def keystone(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["auth"]["tenantName"] == "p1"
        access = {
            "token": {"id": "tok2", "expires": "2999-01-01T00:00:00Z"},
            "serviceCatalog": [
                {
                    "type": "object-store",
                    "endpoints": [
                        {"region": "RegionOne", "publicURL": SWIFT, "internalURL": "https://int"}
                    ],
                }
            ],
        }
        return httpx.Response(200, json={"access": access})

    async with _client(keystone) as client:
        token = await authenticate(
            client, Credentials("http://ks:5000/v2.0", "p1:u", "pw", "2"), Catalog(), store="s"
        )
    assert (token.value, token.storage_url) == ("tok2", SWIFT)


async def test_a_catalog_without_swift_is_a_clear_misconfiguration() -> None:
    def keystone(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201, json={"token": {"catalog": []}}, headers={"X-Subject-Token": "t"}
        )

    async with _client(keystone) as client:
        with pytest.raises(StoreMisconfigured, match="store s: the catalog has no publicURL"):
            await authenticate(
                client, Credentials("http://ks", "p:u", "pw", "3"), Catalog(), store="s"
            )


async def test_swift_store_endpoint_bypasses_the_catalog() -> None:
    def tempauth(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Auth-User"] == "test:tester"
        assert request.headers["X-Auth-Key"] == "pw"
        return httpx.Response(
            200,
            headers={
                "X-Auth-Token": "t1",
                "X-Storage-Url": "http://other",
                "X-Auth-Token-Expires": "30",
            },
        )

    async with _client(tempauth) as client:
        token = await authenticate(
            client,
            Credentials("http://swift/auth/v1.0", "test:tester", "pw", "1"),
            Catalog(endpoint=SWIFT),
            store="s",
        )
    assert token.storage_url == SWIFT
    assert token.expires_within(31) and not token.expires_within(25)


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, StoreMisconfigured, "refused the store's credentials (401)"),
        (503, StoreUnavailable, "failed (503)"),
        (404, StoreMisconfigured, "check swift_store_auth_address"),
    ],
)
async def test_refusals_name_the_store_never_the_key(
    status: int, error: type[Exception], words: str
) -> None:
    async with _client(lambda request: httpx.Response(status)) as client:
        with pytest.raises(error) as failed:
            await authenticate(
                client, Credentials("http://ks", "p:u", "hunter2", "3"), Catalog(), store="images"
            )
    message = str(failed.value)
    assert "Swift store images" in message and words in message
    assert "hunter2" not in message and "p:u" not in message


async def test_an_unreachable_auth_service_is_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _client(down) as client:
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            await authenticate(
                client, Credentials("http://ks", "p:u", "pw", "1"), Catalog(), store="s"
            )


async def test_an_unknown_auth_version() -> None:
    async with _client(lambda request: httpx.Response(200)) as client:
        with pytest.raises(StoreMisconfigured, match="must be 1, 2 or 3"):
            await authenticate(
                client, Credentials("http://ks", "u", "pw", "4"), Catalog(), store="s"
            )
