"""The registry client's side of the wire: errors come back as the same classes, an
unreachable or untrusting registry is a 503 with Retry-After, never a hang."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spyglass import request_ids
from spyglass.domain.metadefs import MetadefProperty, MetadefTag
from spyglass.errors import (
    BadRequest,
    ImageNotFound,
    RegistryUnavailable,
    ServiceUnavailable,
    TooLarge,
)
from spyglass.registry.connection import RegistryAddress, RegistryConnection
from spyglass.registry.protocol import CALLS, decode_error, encode_error
from tests.server import free_port
from tests.unit.registry.inprocess import connection, registry_app, remote


def test_every_port_method_is_a_call() -> None:
    assert {"images.save", "members.add", "deletions.restore", "events.record"} <= set(CALLS)
    assert CALLS["images.get"].reads and not CALLS["images.save"].reads


def test_errors_keep_their_class_and_message() -> None:
    error = decode_error(413, encode_error(TooLarge("Maximum number of members (1) reached")))
    assert type(error) is TooLarge and error.message == "Maximum number of members (1) reached"
    assert type(decode_error(503, b"not json")) is ServiceUnavailable


def test_metadef_children_travel_with_their_kind() -> None:
    call = CALLS["metadefs.add_child"]
    for child in (MetadefTag("t"), MetadefProperty("p", {"type": "string"})):
        args = call.decode_args(call.encode_args({"namespace": "n", "child": child}))
        assert args["child"] == child


def test_malformed_arguments_are_bad_requests() -> None:
    with pytest.raises(BadRequest):
        CALLS["images.get"].decode_args(b'{"image_id": 3}')
    with pytest.raises(BadRequest):
        CALLS["images.get"].decode_args(b'{"nope": "x"}')


async def test_domain_errors_cross_the_wire(tmp_path: Path) -> None:
    async with remote("sqlite", tmp_path) as repos:
        with pytest.raises(ImageNotFound):
            await repos.images.get("00000000-0000-4000-8000-000000000000")
        assert await repos.members.count("00000000-0000-4000-8000-000000000000") == 0


async def test_an_untrusting_registry_is_unavailable_not_a_client_error(tmp_path: Path) -> None:
    async with remote("sqlite", tmp_path) as repos:
        async with connection(registry_app(repos, token="another")) as rpc:
            with pytest.raises(RegistryUnavailable) as caught:
                await rpc.call("images.get", image_id="x")
        assert caught.value.http_status == 503 and caught.value.retry_after


async def test_an_unreachable_registry_fails_fast_with_503() -> None:
    address = RegistryAddress(
        url=f"http://127.0.0.1:{free_port()}", timeout=2, verify=True, auth_token=None
    )
    rpc = RegistryConnection(address)
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable):
        await rpc.call("images.get", image_id="x")
    assert time.monotonic() - started < 2
    assert await rpc.probe() is not None
    await rpc.aclose()


async def test_calls_carry_the_request_id_they_are_made_for() -> None:
    seen: list[str | None] = []

    async def answer(request: Request) -> Response:
        seen.append(request.headers.get("x-openstack-request-id"))
        return Response(b"0")

    app = Starlette(routes=[Route("/rpc/{call}", answer, methods=["POST"])])
    async with connection(app, token=None) as rpc:
        with request_ids.bound("req-2f0e"):
            await rpc.call("members.count", image_id="x")
        await rpc.call("members.count", image_id="x")  # outside any request: no id is made up
    assert seen == ["req-2f0e", None]
