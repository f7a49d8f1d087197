"""KeystoneAuthMiddleware and its config, against a fake Keystone (``httpx.MockTransport``) and
fake clocks: headers, cache lifetimes, service-token renewal, error mapping, retries."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from spyglass.auth.keystone import KeystoneAuthMiddleware
from spyglass.auth.keystone_config import IDENTITY_HEADERS, KeystoneAuthConfig
from spyglass.auth.keystone_token import TokenInfo, v2_catalog
from spyglass.config import ConfigError, load_settings

T0 = 1_800_000_000.0  # wall clock at the start of each test
SERVICE_PASSWORD = "s3cret-service-password"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token_body(
    *,
    expires_at: float,
    roles: tuple[str, ...] = ("reader", "member"),
    project: str | None = "p1",
    catalog: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    token: dict[str, Any] = {
        "methods": ["password"],
        "user": {"domain": {"id": "default", "name": "Default"}, "id": "u-1", "name": "alice"},
        "expires_at": iso(expires_at),
        "issued_at": iso(expires_at - 3600),
        "roles": [{"id": f"r-{r}", "name": r} for r in roles],
        "is_domain": False,
    }
    if project is not None:
        token["project"] = {
            "domain": {"id": "default", "name": "Default"},
            "id": f"id-{project}",
            "name": project,
        }
    if catalog is not None:
        token["catalog"] = catalog
    return {"token": token}


@dataclass
class Clock:
    wall: float = T0
    mono: float = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@dataclass
class FakeKeystone:
    """Answers like Keystone: tokens in ``valid`` are good until their ``expires_at`` (or after,
    with ``allow_expired``), the rest are 404."""

    clock: Clock
    valid: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_lifetime: float = 3600.0
    logins: int = 0
    validations: int = 0
    seen_service_tokens: list[str] = field(default_factory=list)
    seen_params: list[dict[str, str]] = field(default_factory=list)
    login_status: int = 201
    validate_status: int | None = None
    """Force this status on validations."""
    reject_service_tokens: set[str] = field(default_factory=set)
    skewed: bool = False
    """Accept expired tokens (Keystone's clock is behind)."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v3/auth/tokens"
        if request.method == "POST":
            self.logins += 1
            body = json.loads(request.content)
            user = body["auth"]["identity"]["password"]["user"]
            if self.login_status != 201 or user["password"] != SERVICE_PASSWORD:
                return httpx.Response(401, json={"error": {"code": 401}})
            token = f"svc-{self.logins}"
            answer = token_body(
                expires_at=self.clock.wall + self.service_lifetime,
                roles=("service", "admin"),
                project="service",
            )
            return httpx.Response(201, json=answer, headers={"X-Subject-Token": token})
        self.validations += 1
        service = request.headers["X-Auth-Token"]
        self.seen_service_tokens.append(service)
        self.seen_params.append(dict(request.url.params))
        if self.validate_status is not None:
            return httpx.Response(self.validate_status, json={})
        if service in self.reject_service_tokens:
            return httpx.Response(401, json={})
        subject = request.headers["X-Subject-Token"]
        body = self.valid.get(subject)
        if body is None:
            return httpx.Response(404, json={"error": {"code": 404}})
        expires = datetime.fromisoformat(body["token"]["expires_at"]).timestamp()
        expired = expires <= self.clock.wall and not self.skewed
        if expired and "allow_expired" not in request.url.params:
            return httpx.Response(404, json={"error": {"code": 404}})
        return httpx.Response(200, json=body)


def make_config(**changes: Any) -> KeystoneAuthConfig:
    options: dict[str, Any] = {
        "auth_url": "http://keystone.test/v3",
        "www_authenticate_uri": "http://keystone.test/v3",
        "username": "glance",
        "password": SERVICE_PASSWORD,
        "project_name": "service",
        "user_domain_id": "default",
        "project_domain_id": "default",
    }
    options.update(changes)
    return KeystoneAuthConfig(**options)


@dataclass
class Captured:
    scope: Scope | None = None
    calls: int = 0


def echo(captured: Captured) -> Callable[[Scope, Receive, Send], Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        captured.scope = scope
        captured.calls += 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


@dataclass
class Rig:
    clock: Clock
    keystone: FakeKeystone
    middleware: KeystoneAuthMiddleware
    captured: Captured

    async def get(self, headers: dict[str, str] | None = None, path: str = "/v2/images") -> int:
        sent: list[Message] = []
        raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        scope: Scope = {"type": "http", "method": "GET", "path": path, "headers": raw}

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await self.middleware(scope, receive, send)
        self.sent = sent
        status: int = sent[0]["status"]
        return status

    def header(self, name: str) -> str | None:
        assert self.captured.scope is not None
        values = [
            v.decode() for k, v in self.captured.scope["headers"] if k == name.lower().encode()
        ]
        assert len(values) <= 1, values
        return values[0] if values else None


@pytest.fixture
def rig_factory() -> Callable[..., Rig]:
    def make(**changes: Any) -> Rig:
        clock = Clock()
        keystone = FakeKeystone(clock)
        captured = Captured()
        middleware = KeystoneAuthMiddleware(
            echo(captured),
            make_config(**changes),
            transport=httpx.MockTransport(keystone.handler),
            monotonic=lambda: clock.mono,
            now=lambda: clock.wall,
        )
        return Rig(clock, keystone, middleware, captured)

    return make


@pytest.fixture
def rig(rig_factory: Callable[..., Rig]) -> Rig:
    return rig_factory()


# --------------------------------------------------------------------------- headers


async def test_valid_token_sets_keystonemiddleware_headers(rig: Rig) -> None:
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    expected = {
        "X-Identity-Status": "Confirmed",
        "X-User-Id": "u-1",
        "X-User-Name": "alice",
        "X-User-Domain-Id": "default",
        "X-User-Domain-Name": "Default",
        "X-Project-Id": "id-p1",
        "X-Project-Name": "p1",
        "X-Project-Domain-Id": "default",
        "X-Project-Domain-Name": "Default",
        "X-Roles": "reader,member",
        "X-Is-Admin-Project": "True",
        "X-Tenant-Id": "id-p1",
        "X-Tenant-Name": "p1",
        "X-Tenant": "p1",
        "X-User": "alice",
        "X-Role": "reader,member",
        "X-Auth-Token": "tok",
    }
    for name, value in expected.items():
        assert rig.header(name) == value, name
    assert rig.header("X-Domain-Id") is None
    assert rig.header("X-Service-Identity-Status") is None
    assert rig.captured.scope is not None
    assert rig.captured.scope["keystone.token_info"]["token"]["user"]["name"] == "alice"


async def test_client_identity_headers_are_removed(rig: Rig) -> None:
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600, roles=("reader",))
    forged = {name.decode(): "forged" for name in IDENTITY_HEADERS}
    assert await rig.get({**forged, "X-Auth-Token": "tok", "X-Other": "kept"}) == 204
    assert rig.captured.scope is not None
    for name, value in rig.captured.scope["headers"]:
        assert value != b"forged", name
    assert rig.header("X-Roles") == "reader"
    assert rig.header("X-Other") == "kept"


async def test_identity_headers_cover_keystonemiddleware_names() -> None:
    for name in (
        "x-identity-status",
        "x-service-identity-status",
        "x-domain-id",
        "x-domain-name",
        "x-project-id",
        "x-project-name",
        "x-project-domain-id",
        "x-project-domain-name",
        "x-user-id",
        "x-user-name",
        "x-user-domain-id",
        "x-user-domain-name",
        "x-roles",
        "x-service-roles",
        "x-service-project-id",
        "x-service-user-id",
        "x-tenant-id",
        "x-tenant-name",
        "x-tenant",
        "x-user",
        "x-role",
        "x-is-admin-project",
        "x-service-catalog",
        "x-system-scope",
    ):
        assert name.encode() in IDENTITY_HEADERS, name


async def test_storage_token_is_accepted_when_there_is_no_auth_token(rig: Rig) -> None:
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    assert await rig.get({"X-Storage-Token": "tok"}) == 204
    assert rig.header("X-Identity-Status") == "Confirmed"


async def test_service_catalog_header_has_the_v2_shape(rig: Rig) -> None:
    catalog = [
        {
            "type": "image",
            "name": "glance",
            "endpoints": [
                {"interface": "public", "region": "RegionOne", "url": "http://img"},
                {"interface": "internal", "region": "RegionOne", "url": "http://img-int"},
            ],
        }
    ]
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600, catalog=catalog)
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    header = rig.header("X-Service-Catalog")
    assert header is not None
    assert json.loads(header) == [
        {
            "type": "image",
            "name": "glance",
            "endpoints": [
                {"region": "RegionOne", "publicURL": "http://img", "internalURL": "http://img-int"}
            ],
        }
    ]
    assert rig.keystone.seen_params[-1] == {}


async def test_no_catalog_asked_when_include_service_catalog_is_off(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(include_service_catalog=False)
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    assert rig.keystone.seen_params[-1] == {"nocatalog": ""}
    assert rig.header("X-Service-Catalog") is None


def test_v2_catalog_groups_endpoints_by_region() -> None:
    catalog = [
        {
            "type": "identity",
            "endpoints": [
                {"interface": "public", "region": "A", "url": "a"},
                {"interface": "admin", "region": "B", "url": "b"},
                {"interface": "public", "url": "none"},
            ],
        }
    ]
    assert v2_catalog(catalog) == [
        {
            "type": "identity",
            "endpoints": [
                {"region": "A", "publicURL": "a"},
                {"region": "B", "adminURL": "b"},
                {"publicURL": "none"},
            ],
        }
    ]


def test_token_info_of_domain_and_system_scoped_tokens() -> None:
    body = token_body(expires_at=T0, project=None)
    body["token"]["domain"] = {"id": "d-1", "name": "Dom"}
    body["token"]["system"] = {"all": True}
    body["token"]["is_admin_project"] = False
    info = TokenInfo.from_body(body)
    headers = dict(info.user_headers(include_catalog=True))
    assert headers["X-Domain-Id"] == "d-1"
    assert headers["X-Domain-Name"] == "Dom"
    assert headers["X-System-Scope"] == "all"
    assert headers["X-Project-Id"] is None
    assert headers["X-Is-Admin-Project"] == "False"
    assert info.expires_at == T0


# --------------------------------------------------------------------------- refusals


async def test_missing_token_gets_401_without_asking_keystone(rig: Rig) -> None:
    assert await rig.get({"X-Roles": "admin"}) == 401
    start = rig.sent[0]
    headers = dict(start["headers"])
    assert headers[b"www-authenticate"] == b'Keystone uri="http://keystone.test/v3"'
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(rig.sent[1]["body"]) == {
        "error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The request you have made requires authentication.",
        }
    }
    assert rig.captured.calls == 0
    assert rig.middleware.keystone_requests == 0


async def test_unknown_token_gets_401(rig: Rig) -> None:
    assert await rig.get({"X-Auth-Token": "nope"}) == 401
    assert rig.captured.calls == 0


async def test_odd_tokens_are_refused_without_asking_keystone(rig: Rig) -> None:
    assert await rig.get({"X-Auth-Token": "x" * 9000}) == 401
    assert await rig.get({"X-Auth-Token": "tok\x01en"}) == 401
    assert rig.middleware.keystone_requests == 0


async def test_reject_uri_falls_back_to_auth_url(
    rig_factory: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        rig = rig_factory(www_authenticate_uri=None, auth_url="http://ks:5000")
    assert "www_authenticate_uri" in caplog.text
    assert await rig.get() == 401
    assert dict(rig.sent[0]["headers"])[b"www-authenticate"] == b'Keystone uri="http://ks:5000"'


async def test_delay_auth_decision_passes_on_as_invalid(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(delay_auth_decision=True)
    assert await rig.get({"X-Auth-Token": "nope", "X-Roles": "admin"}) == 204
    assert rig.header("X-Identity-Status") == "Invalid"
    assert rig.header("X-Roles") is None
    assert await rig.get() == 204
    assert rig.header("X-Identity-Status") == "Invalid"


async def test_exempt_paths_skip_the_check_but_not_the_header_cleaning() -> None:
    captured = Captured()
    middleware = KeystoneAuthMiddleware(
        echo(captured), make_config(), exempt_paths={"/", "/versions"}
    )
    rig = Rig(Clock(), FakeKeystone(Clock()), middleware, captured)
    assert await rig.get({"X-Roles": "admin"}, path="/") == 204
    assert rig.header("X-Roles") is None
    assert rig.header("X-Identity-Status") is None
    assert await rig.get(path="/v2/images") == 401


# --------------------------------------------------------------------------- cache


async def test_validations_are_cached(rig: Rig) -> None:
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    for _ in range(5):
        assert await rig.get({"X-Auth-Token": "tok"}) == 204
    assert (rig.keystone.logins, rig.keystone.validations) == (1, 1)
    assert rig.middleware.keystone_requests == 2
    rig.clock.advance(299)
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    assert rig.keystone.validations == 1
    rig.clock.advance(2)  # token_cache_time (300 s) has passed
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    assert rig.keystone.validations == 2


async def test_cache_keys_are_hashes_not_tokens(rig: Rig) -> None:
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    await rig.get({"X-Auth-Token": "tok"})
    keys = list(rig.middleware.cache._entries)
    assert len(keys) == 1
    assert keys[0] != "tok" and len(keys[0]) == 64


async def test_revoked_token_passes_until_its_entry_expires(
    rig_factory: Callable[..., Rig],
) -> None:
    rig = rig_factory(token_cache_time=10)
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    del rig.keystone.valid["tok"]  # revoked
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    rig.clock.advance(10)
    assert await rig.get({"X-Auth-Token": "tok"}) == 401


async def test_cached_tokens_are_not_used_past_expires_at(rig: Rig) -> None:
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 30)
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    rig.clock.advance(29)
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    assert rig.keystone.validations == 1
    rig.clock.advance(2)
    del rig.keystone.valid["tok"]  # Keystone: expired
    assert await rig.get({"X-Auth-Token": "tok"}) == 401
    assert rig.keystone.validations == 2


async def test_expiry_is_checked_even_if_keystone_said_valid(rig: Rig) -> None:
    rig.keystone.skewed = True  # Keystone's clock is behind ours
    rig.keystone.valid["tok"] = token_body(expires_at=T0 - 1)
    assert await rig.get({"X-Auth-Token": "tok"}) == 401
    assert rig.keystone.validations == 1


async def test_invalid_tokens_are_cached_too(rig: Rig) -> None:
    for _ in range(3):
        assert await rig.get({"X-Auth-Token": "nope"}) == 401
    assert rig.keystone.validations == 1


async def test_negative_cache_time_disables_the_cache(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(token_cache_time=-1)
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    for _ in range(3):
        assert await rig.get({"X-Auth-Token": "tok"}) == 204
    assert rig.keystone.validations == 3
    assert len(rig.middleware.cache) == 0


async def test_the_cache_is_bounded(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.middleware.cache.max_entries = 3
    for i in range(6):
        rig.keystone.valid[f"t{i}"] = token_body(expires_at=T0 + 3600)
        assert await rig.get({"X-Auth-Token": f"t{i}"}) == 204
    assert len(rig.middleware.cache) == 3


# --------------------------------------------------------------------------- service token


async def test_service_token_is_renewed_before_it_expires(rig: Rig) -> None:
    rig.keystone.valid["a"] = token_body(expires_at=T0 + 10_000)
    rig.keystone.valid["b"] = token_body(expires_at=T0 + 10_000)
    rig.keystone.valid["c"] = token_body(expires_at=T0 + 10_000)
    assert await rig.get({"X-Auth-Token": "a"}) == 204
    rig.clock.advance(3600 - 121)
    assert await rig.get({"X-Auth-Token": "b"}) == 204
    assert rig.keystone.logins == 1
    rig.clock.advance(2)  # within 120 s of the service token's end
    assert await rig.get({"X-Auth-Token": "c"}) == 204
    assert rig.keystone.logins == 2
    assert rig.keystone.seen_service_tokens == ["svc-1", "svc-1", "svc-2"]


async def test_rejected_service_token_is_replaced_once(rig: Rig) -> None:
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    rig.keystone.reject_service_tokens.add("svc-1")
    assert await rig.get({"X-Auth-Token": "tok"}) == 204
    assert rig.keystone.seen_service_tokens == ["svc-1", "svc-2"]


async def test_wrong_service_password_gives_503(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory(password="wrong")
    assert await rig.get({"X-Auth-Token": "tok"}) == 503
    assert json.loads(rig.sent[1]["body"])["error"]["code"] == 503


@pytest.mark.parametrize("status", [403, 500, 400])
async def test_keystone_errors_give_503(rig: Rig, status: int) -> None:
    rig.keystone.validate_status = status
    assert await rig.get({"X-Auth-Token": "tok"}) == 503
    assert rig.captured.calls == 0


async def test_service_token_header_allows_expired_user_tokens(rig: Rig) -> None:
    rig.keystone.valid["svc-caller"] = token_body(
        expires_at=T0 + 3600, roles=("service",), project="service"
    )
    rig.keystone.valid["old"] = token_body(expires_at=T0 - 60)
    assert await rig.get({"X-Auth-Token": "old"}) == 401
    assert await rig.get({"X-Auth-Token": "old", "X-Service-Token": "svc-caller"}) == 204
    assert rig.keystone.seen_params[-1] == {"allow_expired": "1"}
    assert rig.header("X-Identity-Status") == "Confirmed"
    assert rig.header("X-Service-Identity-Status") == "Confirmed"
    assert rig.header("X-Service-Roles") == "service"
    assert rig.header("X-Service-Project-Name") == "service"
    # the entry cached with allow_expired does not let the expired token in on its own
    assert await rig.get({"X-Auth-Token": "old"}) == 401


async def test_service_token_roles(rig_factory: Callable[..., Rig]) -> None:
    for required, expected in ((False, 204), (True, 401)):
        rig = rig_factory(service_token_roles_required=required)
        rig.keystone.valid["svc-caller"] = token_body(expires_at=T0 + 3600, roles=("member",))
        rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
        assert await rig.get({"X-Auth-Token": "tok", "X-Service-Token": "svc-caller"}) == expected


async def test_invalid_service_token_spoils_the_request(rig_factory: Callable[..., Rig]) -> None:
    rig = rig_factory()
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    assert await rig.get({"X-Auth-Token": "tok", "X-Service-Token": "nope"}) == 401
    delayed = rig_factory(delay_auth_decision=True)
    delayed.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    assert await delayed.get({"X-Auth-Token": "tok", "X-Service-Token": "nope"}) == 204
    assert delayed.header("X-Identity-Status") == "Confirmed"
    assert delayed.header("X-Service-Identity-Status") == "Invalid"


# --------------------------------------------------------------------------- transport


async def test_connection_failures_are_retried_then_give_503(
    rig_factory: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    monkeypatch.setattr("spyglass.auth.keystone_client.asyncio.sleep", nap)
    captured = Captured()
    middleware = KeystoneAuthMiddleware(
        echo(captured),
        make_config(http_request_max_retries=2),
        transport=httpx.MockTransport(refuse),
    )
    rig = Rig(Clock(), FakeKeystone(Clock()), middleware, captured)
    assert await rig.get({"X-Auth-Token": "tok"}) == 503
    assert attempts == ["POST"] * 3
    assert naps == [0.5, 1.0]


async def test_timeouts_give_503_without_retrying() -> None:
    attempts: list[str] = []

    def slow(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        raise httpx.ReadTimeout("slow", request=request)

    captured = Captured()
    middleware = KeystoneAuthMiddleware(
        echo(captured), make_config(), transport=httpx.MockTransport(slow)
    )
    rig = Rig(Clock(), FakeKeystone(Clock()), middleware, captured)
    assert await rig.get({"X-Auth-Token": "tok"}) == 503
    assert attempts == ["POST"]


def client_of(middleware: KeystoneAuthMiddleware) -> httpx.AsyncClient | None:
    return middleware.identity._client


async def test_lifespan_shutdown_closes_the_keystone_client(rig: Rig) -> None:
    rig.keystone.valid["tok"] = token_body(expires_at=T0 + 3600)
    await rig.get({"X-Auth-Token": "tok"})
    client = client_of(rig.middleware)
    assert client is not None
    was_open = not client.is_closed
    assert was_open
    messages: list[Message] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        while messages:
            await receive()

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        raise AssertionError("unused")

    rig.middleware.app = inner
    await rig.middleware({"type": "lifespan"}, receive, send)
    assert client.is_closed
    assert client_of(rig.middleware) is None


# --------------------------------------------------------------------------- configuration


def test_identity_url_and_repr() -> None:
    assert make_config(auth_url="http://k:5000").identity_url == "http://k:5000/v3"
    assert make_config(auth_url="http://k:5000/v3/").identity_url == "http://k:5000/v3"
    assert make_config(auth_url="http://k/identity/v2.0").identity_url == "http://k/identity/v3"
    assert SERVICE_PASSWORD not in repr(make_config())
    assert make_config(http_connect_timeout=None).timeout == 10.0
    assert make_config(http_connect_timeout=3).timeout == 3.0


def test_password_auth_body() -> None:
    body = make_config().password_auth_body()
    assert body == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "password": SERVICE_PASSWORD,
                        "name": "glance",
                        "domain": {"id": "default"},
                    }
                },
            },
            "scope": {"project": {"name": "service", "domain": {"id": "default"}}},
        }
    }
    by_id = make_config(user_id="uid", project_id="pid").password_auth_body()["auth"]
    assert by_id["identity"]["password"]["user"] == {"password": SERVICE_PASSWORD, "id": "uid"}
    assert by_id["scope"] == {"project": {"id": "pid"}}
    named = make_config(
        user_domain_id=None, user_domain_name="Users", project_domain_id=None
    ).password_auth_body()["auth"]
    assert named["identity"]["password"]["user"]["domain"] == {"name": "Users"}
    assert named["scope"]["project"]["domain"] == {"id": "default"}
    system = make_config(system_scope="all").password_auth_body()["auth"]
    assert system["scope"] == {"system": {"all": True}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"username": None}, "username"),
        ({"password": ""}, "password"),
        ({"auth_url": "keystone:5000"}, "auth_url"),
    ],
)
def test_incomplete_config_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(**changes)


def _settings(tmp_path: Path, text: str) -> KeystoneAuthConfig:
    conf = tmp_path / "glance-api.conf"
    conf.write_text(text)
    return KeystoneAuthConfig.from_settings(load_settings([conf]))


def test_from_settings_password(tmp_path: Path) -> None:
    config = _settings(
        tmp_path,
        "[keystone_authtoken]\n"
        "www_authenticate_uri = http://ks:5000/v3\n"
        "auth_url = http://ks:5000\n"
        "auth_type = password\n"
        "username = glance\n"
        "password = pw\n"
        "project_name = service\n"
        "user_domain_name = Default\n"
        "project_domain_id = default\n"
        "delay_auth_decision = true\n"
        "http_connect_timeout = 4\n"
        "http_request_max_retries = 1\n"
        "token_cache_time = 60\n"
        "include_service_catalog = false\n"
        "service_token_roles = service,nova\n"
        "service_token_roles_required = true\n",
    )
    assert config == KeystoneAuthConfig(
        auth_url="http://ks:5000",
        password="pw",
        username="glance",
        user_domain_name="Default",
        project_name="service",
        project_domain_id="default",
        www_authenticate_uri="http://ks:5000/v3",
        delay_auth_decision=True,
        http_connect_timeout=4,
        http_request_max_retries=1,
        token_cache_time=60,
        include_service_catalog=False,
        service_token_roles=frozenset({"service", "nova"}),
        service_token_roles_required=True,
    )


def test_from_settings_defaults(tmp_path: Path) -> None:
    config = _settings(
        tmp_path,
        "[keystone_authtoken]\nauth_type = password\nauth_url = http://ks/v3\n"
        "username = glance\npassword = pw\nproject_name = service\n",
    )
    assert config.token_cache_time == 300
    assert config.http_request_max_retries == 3
    assert config.http_connect_timeout is None
    assert config.include_service_catalog is True
    assert config.delay_auth_decision is False
    assert config.service_token_roles == frozenset({"service"})
    assert config.www_authenticate_uri is None


def test_from_settings_classic_options(tmp_path: Path) -> None:
    config = _settings(
        tmp_path,
        "[keystone_authtoken]\nauth_host = 10.0.0.1\nauth_port = 35357\nauth_protocol = http\n"
        "admin_tenant_name = services\nadmin_user = glance\nadmin_password = pw\n"
        "auth_uri = http://10.0.0.1:5000/v2.0\n",
    )
    assert config.identity_url == "http://10.0.0.1:35357/v3"
    assert (config.username, config.password, config.project_name) == ("glance", "pw", "services")
    assert config.reject_uri == "http://10.0.0.1:5000/v2.0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[keystone_authtoken]\n", "auth_type"),
        ("[keystone_authtoken]\nauth_type = token\n", "auth_type"),
        ("[keystone_authtoken]\nauth_type = password\nusername = g\npassword = p\n", "auth_url"),
    ],
)
def test_from_settings_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(tmp_path, text)
