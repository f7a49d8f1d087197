"""KeystoneAuthMiddleware against a real Keystone (the session's ``keystone`` fixture).

The middleware wraps a tiny ASGI app that echoes the identity headers it receives, driven
in-process through ``httpx.ASGITransport``; Keystone is the real one on loopback.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from spyglass.auth.keystone import KeystoneAuthMiddleware
from spyglass.auth.keystone_config import KeystoneAuthConfig
from spyglass.config import load_settings
from tests.integration.keystone.harness import (
    ADMIN,
    GLANCE,
    P1_MEMBER,
    P1_READER,
    P2_MEMBER,
    KeystoneHarness,
)
from tests.server import free_port

Client = httpx.AsyncClient
MakeClient = Callable[..., Awaitable[tuple[Client, KeystoneAuthMiddleware]]]


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the x-* headers received and whether token_info was attached."""
    assert scope["type"] == "http"
    seen: dict[str, Any] = {}
    for name, value in scope["headers"]:
        key = name.decode().lower()
        if key.startswith("x-"):
            seen.setdefault(key, []).append(value.decode())
    seen["token_info"] = "keystone.token_info" in scope
    body = json.dumps(seen).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def config_for(keystone: KeystoneHarness, **changes: Any) -> KeystoneAuthConfig:
    options: dict[str, Any] = {
        "auth_url": keystone.auth_url,
        "www_authenticate_uri": keystone.auth_url,
        "username": GLANCE.user,
        "password": GLANCE.password,
        "project_name": GLANCE.project,
        "user_domain_id": "default",
        "project_domain_id": "default",
        "http_connect_timeout": 5,
        "http_request_max_retries": 1,
    }
    options.update(changes)
    return KeystoneAuthConfig(**options)


@pytest.fixture
async def make_client(keystone: KeystoneHarness) -> AsyncIterator[MakeClient]:
    made: list[tuple[Client, KeystoneAuthMiddleware]] = []

    async def make(
        config: KeystoneAuthConfig | None = None, **changes: Any
    ) -> tuple[Client, KeystoneAuthMiddleware]:
        middleware = KeystoneAuthMiddleware(echo_app, config or config_for(keystone, **changes))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=middleware), base_url="http://spyglass"
        )
        made.append((client, middleware))
        return client, middleware

    yield make
    for client, middleware in made:
        await client.aclose()
        await middleware.aclose()


def one(seen: dict[str, Any], header: str) -> str:
    values = seen.get(header.lower())
    assert values is not None and len(values) == 1, f"{header}: {values}"
    value: str = values[0]
    return value


def assert_rejected(response: httpx.Response, keystone: KeystoneHarness) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == f'Keystone uri="{keystone.auth_url}"'
    assert response.json() == {
        "error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The request you have made requires authentication.",
        }
    }


async def test_member_token_sets_the_identity_headers(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    client, _ = await make_client()
    token = keystone.account_token(P1_MEMBER)
    response = await client.get("/v2/images", headers={"X-Auth-Token": token})
    assert response.status_code == 200, response.text
    seen = response.json()
    p1 = keystone.project_id("p1")
    user = keystone.user_id("p1-user")
    assert one(seen, "X-Identity-Status") == "Confirmed"
    assert one(seen, "X-Project-Id") == p1
    assert one(seen, "X-Project-Name") == "p1"
    assert one(seen, "X-Project-Domain-Id") == "default"
    assert one(seen, "X-Project-Domain-Name") == "Default"
    assert one(seen, "X-User-Id") == user
    assert one(seen, "X-User-Name") == "p1-user"
    assert one(seen, "X-User-Domain-Id") == "default"
    assert one(seen, "X-User-Domain-Name") == "Default"
    assert set(one(seen, "X-Roles").split(",")) == {"member", "reader"}
    assert one(seen, "X-Is-Admin-Project") in ("True", "False")
    # the deprecated spellings keystonemiddleware still sets
    assert one(seen, "X-Tenant-Id") == p1
    assert one(seen, "X-Tenant-Name") == "p1"
    assert one(seen, "X-Tenant") == "p1"
    assert one(seen, "X-User") == "p1-user"
    assert set(one(seen, "X-Role").split(",")) == {"member", "reader"}
    assert one(seen, "X-Auth-Token") == token
    assert seen["token_info"] is True
    catalog = json.loads(one(seen, "X-Service-Catalog"))
    assert "image" in {service["type"] for service in catalog}
    assert "x-service-identity-status" not in seen


async def test_reader_and_admin_tokens(keystone: KeystoneHarness, make_client: MakeClient) -> None:
    client, _ = await make_client()
    reader = await client.get("/", headers={"X-Auth-Token": keystone.account_token(P1_READER)})
    assert one(reader.json(), "X-Roles") == "reader"
    assert one(reader.json(), "X-Project-Id") == keystone.project_id("p1")
    admin = await client.get("/", headers={"X-Auth-Token": keystone.account_token(ADMIN)})
    roles = set(one(admin.json(), "X-Roles").split(","))
    assert {"admin", "member", "reader"} <= roles
    assert one(admin.json(), "X-Project-Name") == "admin"
    other = await client.get("/", headers={"X-Auth-Token": keystone.account_token(P2_MEMBER)})
    assert one(other.json(), "X-Project-Id") == keystone.project_id("p2")


async def test_forged_identity_headers_are_replaced(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    client, _ = await make_client()
    forged = {
        "X-Roles": "admin",
        "X-Role": "admin",
        "X-Project-Id": "someone-else",
        "X-Tenant-Id": "someone-else",
        "X-User-Id": "root",
        "X-Is-Admin-Project": "True",
        "X-Service-Roles": "service",
        "X-Service-Identity-Status": "Confirmed",
        "X-Identity-Status": "Confirmed",
    }
    token = keystone.account_token(P1_MEMBER)
    response = await client.get("/", headers={**forged, "X-Auth-Token": token})
    seen = response.json()
    assert set(one(seen, "X-Roles").split(",")) == {"member", "reader"}
    assert set(one(seen, "X-Role").split(",")) == {"member", "reader"}
    assert one(seen, "X-Project-Id") == keystone.project_id("p1")
    assert one(seen, "X-Tenant-Id") == keystone.project_id("p1")
    assert one(seen, "X-User-Id") == keystone.user_id("p1-user")
    assert "x-service-roles" not in seen
    assert "x-service-identity-status" not in seen
    # without a token, the forgery is refused outright
    assert_rejected(await client.get("/", headers=forged), keystone)


async def test_missing_and_garbage_tokens_get_401(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    client, _ = await make_client()
    assert_rejected(await client.get("/v2/images"), keystone)
    assert_rejected(await client.get("/", headers={"X-Auth-Token": "garbage"}), keystone)
    bogus = "gAAAAAB" + "x" * 176
    assert_rejected(await client.get("/", headers={"X-Auth-Token": bogus}), keystone)


async def test_delay_auth_decision_passes_invalid_requests_on(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    client, _ = await make_client(delay_auth_decision=True)
    response = await client.get("/", headers={"X-Auth-Token": "garbage", "X-Roles": "admin"})
    assert response.status_code == 200
    seen = response.json()
    assert one(seen, "X-Identity-Status") == "Invalid"
    assert "x-roles" not in seen and "x-project-id" not in seen
    assert seen["token_info"] is False
    anonymous = await client.get("/")
    assert one(anonymous.json(), "X-Identity-Status") == "Invalid"
    valid = await client.get("/", headers={"X-Auth-Token": keystone.account_token(P1_MEMBER)})
    assert one(valid.json(), "X-Identity-Status") == "Confirmed"


async def test_revoked_token_is_refused_once_its_cache_entry_is_gone(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    client, _ = await make_client(token_cache_time=2)
    token = keystone.account_token(P1_MEMBER)
    headers = {"X-Auth-Token": token}
    assert (await client.get("/", headers=headers)).status_code == 200
    keystone.revoke(token)
    assert keystone.validate(token) is None
    # still cached: accepted, as upstream does
    assert (await client.get("/", headers=headers)).status_code == 200
    await asyncio.sleep(2.2)
    assert_rejected(await client.get("/", headers=headers), keystone)


async def test_expired_token_is_refused_even_while_cached(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    client, middleware = await make_client(token_cache_time=300)
    token = keystone.short_lived_token(P1_MEMBER, seconds=3)
    info = keystone.validate(token)
    assert info is not None
    assert info["user"]["name"] == "p1-user"
    headers = {"X-Auth-Token": token}
    assert (await client.get("/", headers=headers)).status_code == 200
    calls = middleware.keystone_requests
    left = datetime.fromisoformat(info["expires_at"]).timestamp() - time.time()
    assert 0 < left < 10
    await asyncio.sleep(left + 1.1)
    assert keystone.validate(token) is None  # Keystone: expired
    assert_rejected(await client.get("/", headers=headers), keystone)
    # the middleware asked Keystone again rather than trusting its cache past expires_at
    assert middleware.keystone_requests > calls


async def test_the_cache_saves_the_second_validation(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    token = keystone.account_token(P1_MEMBER)
    cached, middleware = await make_client()
    assert (await cached.get("/", headers={"X-Auth-Token": token})).status_code == 200
    assert middleware.keystone_requests == 2  # service login + validation
    for _ in range(3):
        assert (await cached.get("/", headers={"X-Auth-Token": token})).status_code == 200
    assert middleware.keystone_requests == 2
    # invalid tokens are remembered too
    for _ in range(2):
        assert (await cached.get("/", headers={"X-Auth-Token": "gAAAAAnope"})).status_code == 401
    assert middleware.keystone_requests == 3

    uncached, counted = await make_client(token_cache_time=-1)
    for _ in range(3):
        assert (await uncached.get("/", headers={"X-Auth-Token": token})).status_code == 200
    assert counted.keystone_requests == 1 + 3  # one login, then every request validates


async def test_calls_counted_by_an_event_hook(keystone: KeystoneHarness) -> None:
    """The same, counted on the wire: a transport that counts what goes to Keystone."""
    sent: list[str] = []

    class Counting(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(f"{request.method} {request.url.path}")
            return await super().handle_async_request(request)

    middleware = KeystoneAuthMiddleware(echo_app, config_for(keystone), transport=Counting())
    token = keystone.account_token(P1_MEMBER)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=middleware), base_url="http://spyglass"
    ) as client:
        for _ in range(4):
            assert (await client.get("/", headers={"X-Auth-Token": token})).status_code == 200
    await middleware.aclose()
    assert sent == ["POST /v3/auth/tokens", "GET /v3/auth/tokens"]


async def test_keystone_down_gives_503_quickly(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v3"
    client, _ = await make_client(auth_url=closed, http_request_max_retries=1)
    started = time.monotonic()
    response = await client.get("/", headers={"X-Auth-Token": keystone.account_token(P1_MEMBER)})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == 503
    assert time.monotonic() - started < 5
    # without a token there is nothing to ask Keystone: 401 as usual
    assert (await client.get("/")).status_code == 401


async def test_wrong_service_password_gives_503(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    client, _ = await make_client(password="not-the-password")
    response = await client.get("/", headers={"X-Auth-Token": keystone.account_token(P1_MEMBER)})
    assert response.status_code == 503


async def test_service_token_headers_and_expired_user_tokens(
    keystone: KeystoneHarness, make_client: MakeClient
) -> None:
    client, _ = await make_client()
    service = keystone.account_token(GLANCE)
    user = keystone.account_token(P1_MEMBER)
    response = await client.get("/", headers={"X-Auth-Token": user, "X-Service-Token": service})
    seen = response.json()
    assert one(seen, "X-Identity-Status") == "Confirmed"
    assert one(seen, "X-Service-Identity-Status") == "Confirmed"
    assert "service" in one(seen, "X-Service-Roles").split(",")
    assert one(seen, "X-Service-Project-Name") == "service"
    assert one(seen, "X-Project-Name") == "p1"
    # an invalid service token spoils the request
    bad = await client.get("/", headers={"X-Auth-Token": user, "X-Service-Token": "garbage"})
    assert_rejected(bad, keystone)
    # a valid one lets an expired user token through (allow_expired), as upstream
    short = keystone.short_lived_token(P2_MEMBER, seconds=2)
    await asyncio.sleep(3)
    alone = await client.get("/", headers={"X-Auth-Token": short})
    assert_rejected(alone, keystone)
    helped = await client.get("/", headers={"X-Auth-Token": short, "X-Service-Token": service})
    assert helped.status_code == 200, helped.text
    assert one(helped.json(), "X-Project-Name") == "p2"


async def test_configured_from_a_glance_config_file(
    keystone: KeystoneHarness, make_client: MakeClient, tmp_path: Path
) -> None:
    conf = tmp_path / "glance-api.conf"
    conf.write_text(keystone.authtoken_section(token_cache_time="60"))
    config = KeystoneAuthConfig.from_settings(load_settings([conf]))
    assert config.token_cache_time == 60
    assert "glance-secret" not in repr(config)
    client, _ = await make_client(config)
    response = await client.get("/", headers={"X-Auth-Token": keystone.account_token(P1_MEMBER)})
    assert one(response.json(), "X-Project-Name") == "p1"


def test_harness_points_the_catalog_at_spyglass(keystone: KeystoneHarness) -> None:
    before = keystone.image_endpoints()
    try:
        keystone.register_image_endpoint("http://127.0.0.1:19292")
        assert keystone.image_endpoints() == ["http://127.0.0.1:19292"]
        keystone.register_image_endpoint("http://127.0.0.1:19292")  # idempotent
        assert keystone.image_endpoints() == ["http://127.0.0.1:19292"]
    finally:
        keystone.register_image_endpoint(before[0] if before else "http://127.0.0.1:9292")
