"""The registry client's HTTP/1.1 pool against small real servers on loopback: answers of
each framing, connections reused, and failures told apart by whether the request can
have arrived."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from spyglass.registry import http1
from spyglass.registry.http1 import Broken, Http1Pool, NotSent, TimedOut
from tests.server import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A server running ``handler`` per connection; yields its URL and a list that grows by
    one for every connection accepted."""
    accepted: list[int] = []
    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        handlers.add(asyncio.create_task(serve(reader, writer)))

    listening = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        listening.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def _pool(url: str, timeout: float = 5) -> Http1Pool:
    return Http1Pool(url, timeout=timeout, connect_timeout=2, headers={"X-Fixed": "yes"})


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        head, body = await _request(reader)
        answer = head.split(b"\r\n", 1)[0] + b"|" + body
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
        await writer.drain()


async def test_requests_reuse_one_keep_alive_connection() -> None:
    async with server(echo_forever) as (url, accepted):
        pool = _pool(url)
        for n in range(3):
            status, body = await pool.request("POST", f"/rpc/{n}", b'{"n": %d}' % n)
            assert (status, body) == (200, b'POST /rpc/%d HTTP/1.1|{"n": %d}' % (n, n))
        assert len(accepted) == 1
        await pool.aclose()


async def test_concurrent_requests_get_a_connection_each() -> None:
    async with server(echo_forever) as (url, accepted):
        pool = _pool(url)
        answers = await asyncio.gather(*(pool.request("POST", "/x", b"%d" % n) for n in range(5)))
        assert sorted(body for _, body in answers) == [b"POST /x HTTP/1.1|%d" % n for n in range(5)]
        assert len(accepted) == 5
        await pool.request("POST", "/x")
        assert len(accepted) == 5  # kept for the next ones
        await pool.aclose()


async def test_fixed_and_call_headers_are_sent() -> None:
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await _request(reader)
        seen.append(head)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with server(record) as (url, _):
        pool = _pool(url)
        assert await pool.request("GET", "/healthcheck", headers={"X-Auth-Token": "t"}) == (
            204,
            b"",
        )
        assert b"\r\nX-Fixed: yes\r\n" in seen[0] and b"\r\nX-Auth-Token: t\r\n" in seen[0]
        assert f"\r\nHost: {url.split('//')[1]}\r\n".encode() in seen[0]
        with pytest.raises(ValueError, match="invalid header"):
            await pool.request("GET", "/", headers={"X-Evil": "a\r\nX-Injected: b"})
        await pool.aclose()


async def test_chunked_and_close_delimited_answers_are_read_whole() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")  # fmt: skip
        await _request(reader)
        writer.write(b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nno length")
        await writer.drain()

    async with server(chunked) as (url, accepted):
        pool = _pool(url)
        assert await pool.request("POST", "/a") == (200, b"hello world")
        assert await pool.request("POST", "/b") == (500, b"no length")
        assert await pool.request("POST", "/c") == (200, b"hello world")  # a new connection
        assert len(accepted) == 2
        await pool.aclose()


async def test_an_unreachable_origin_is_not_sent() -> None:
    pool = _pool(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(NotSent):
        await pool.request("POST", "/rpc/images.get")


async def test_a_connection_dropped_mid_answer_is_broken() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        await writer.drain()

    async with server(hang_up) as (url, _):
        with pytest.raises(Broken):
            await _pool(url).request("POST", "/rpc/images.get")


async def test_a_silent_server_times_out_at_the_deadline() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        await asyncio.sleep(30)

    async with server(silent) as (url, _):
        pool = _pool(url, timeout=0.3)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(TimedOut):
            await pool.request("POST", "/rpc/images.get")
        assert loop.time() - began < 2
        with pytest.raises(TimedOut):
            await pool.request("GET", "/healthcheck", within=0.1)


async def test_connections_the_server_closed_or_idle_too_long_are_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)  # then the connection ends, as a restarted registry's do

    async with server(one_then_close) as (url, accepted):
        pool = _pool(url)
        assert await pool.request("POST", "/a") == (200, b"ok")
        await asyncio.sleep(0.2)
        assert await pool.request("POST", "/b") == (200, b"ok")  # not the closed one
        assert len(accepted) == 2
        await pool.aclose()

    async with server(echo_forever) as (url, accepted):
        pool = _pool(url)
        await pool.request("POST", "/a")
        monkeypatch.setattr(http1, "IDLE_EXPIRY", 0.0)
        await pool.request("POST", "/b")
        assert len(accepted) == 2
        await pool.aclose()


async def test_waiting_for_a_free_connection_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request(reader)
        await asyncio.sleep(1)

    monkeypatch.setattr(http1, "MAX_CONNECTIONS", 1)
    async with server(slow) as (url, _):
        pool = _pool(url, timeout=0.3)
        first = asyncio.create_task(pool.request("POST", "/a", within=0.6))
        await asyncio.sleep(0.05)
        with pytest.raises(NotSent, match="no free connection"):
            await pool.request("POST", "/b")
        with pytest.raises(TimedOut):
            await first


def test_only_http_origins() -> None:
    with pytest.raises(ValueError, match="origin"):
        Http1Pool("ftp://host", timeout=1, connect_timeout=1)
