"""The Swift store's direct body reader, against a scripted server on loopback."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSListener

from spyglass.stores.swift_read import BrokenBody, open_body

Script = Callable[[anyio.abc.ByteStream], Awaitable[None]]


async def _serve(
    script: Script,
    tls: ssl.SSLContext | None = None,
    *,
    task_status: anyio.abc.TaskStatus[int],
) -> None:
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener: anyio.abc.Listener[Any] = tcp if tls is None else TLSListener(tcp, tls)

    async def handle(client: anyio.abc.ByteStream) -> None:
        async with client:
            await client.receive()
            await script(client)

    task_status.started(port)
    async with listener:
        await listener.serve(handle)


async def _read(script: Script, read_timeout: float = 5.0) -> tuple[int | None, bytes]:
    """Status and body (``None`` when left to httpx); ``BrokenBody`` raised as is."""
    outcome: tuple[int | None, bytes] | BrokenBody = (None, b"")
    async with anyio.create_task_group() as tasks:
        port = await tasks.start(_serve, script)
        body = await open_body(
            f"http://127.0.0.1:{port}/v1/AUTH_t/c/o",
            {"X-Auth-Token": "t"},
            ssl_context=None,
            read_timeout=read_timeout,
        )
        if body is not None:
            try:
                outcome = (body.status, b"".join([chunk async for chunk in body.chunks()]))
            except BrokenBody as exc:
                outcome = exc
        tasks.cancel_scope.cancel()
    if isinstance(outcome, BrokenBody):
        raise outcome
    return outcome


def _reply(head: bytes, *parts: bytes, pause: float = 0.0) -> Script:
    async def script(client: anyio.abc.ByteStream) -> None:
        await client.send(head)
        for part in parts:
            await anyio.sleep(pause)
            await client.send(part)

    return script


async def test_a_plain_body_arrives_whole() -> None:
    head = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nEtag: x\r\n\r\n01234"
    assert await _read(_reply(head, b"56789")) == (206, b"0123456789")


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nno length",
    ],
)
async def test_anything_unusual_is_left_to_httpx(head: bytes) -> None:
    assert await _read(_reply(head)) == (None, b"")


async def test_a_body_cut_short_is_broken() -> None:
    with pytest.raises(BrokenBody):
        await _read(_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a bit"))


async def test_a_stalled_body_is_broken_after_the_read_timeout() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc"
    with anyio.fail_after(5), pytest.raises(BrokenBody, match="TimeoutError"):
        await _read(_reply(head, b"def", pause=3.0), read_timeout=0.3)


async def test_https_with_the_configured_ca() -> None:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"
    async with anyio.create_task_group() as tasks:
        port = await tasks.start(_serve, _reply(head, b"secure!"), server)
        body = await open_body(f"https://127.0.0.1:{port}/o", {}, ssl_context=client)
        assert body is not None
        assert b"".join([chunk async for chunk in body.chunks()]) == b"secure!"
        with pytest.raises(ssl.SSLError):  # the system's CAs do not know this one
            await open_body(
                f"https://127.0.0.1:{port}/o", {}, ssl_context=ssl.create_default_context()
            )
        tasks.cancel_scope.cancel()
