"""Spyglass's uvicorn protocol over real sockets: it offers the zero-copy send extension and
sends the span with ``sendfile``; with the extension off the same response is streamed.
Either way the client gets the same bytes, and the connection stays usable."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spyglass.api import zero_copy
from spyglass.api.data_response import DataResponse
from spyglass.api.http_protocol import BoundedHttpToolsProtocol
from spyglass.stores.base import ByteRange
from spyglass.stores.filesystem import FilesystemStore
from tests.unit.api.threaded_server import serving

SIZE = 24 * 1024 * 1024 + 5
IMAGE = "11111111-2222-3333-4444-555555555555"


class _NoZeroCopy(BoundedHttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zero_copy = False


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[FilesystemStore, bytes]:
    directory = tmp_path_factory.mktemp("images")
    content = os.urandom(SIZE)
    (directory / IMAGE).write_bytes(content)
    return FilesystemStore("fs", datadir=directory), content


def _app(store: FilesystemStore, seen: list[list[str]]) -> Starlette:
    async def download(request: Request) -> Response:
        seen.append(sorted(request.scope.get("extensions") or {}))
        raw = request.headers.get("range")
        wanted = None
        if raw:
            first, last = raw.removeprefix("bytes=").split("-")
            wanted = ByteRange(int(first), int(last) if last else None)
        location = (Path(store.datadir) / IMAGE).as_uri()
        read = await store.get(location, byte_range=wanted)
        return DataResponse(read, status_code=206 if wanted else 200)

    return Starlette(routes=[Route("/file", download)])


def _serving(
    store: FilesystemStore, protocol: Any, seen: list[list[str]], **config: Any
) -> contextlib.AbstractContextManager[tuple[str, threading.Thread]]:
    """A real uvicorn server in a thread, on the project's protocol; its URL and thread."""
    return serving(_app(store, seen), protocol, **config)


@pytest.fixture(params=["zero-copy", "streamed"])
def server(
    request: pytest.FixtureRequest, data: tuple[FilesystemStore, bytes]
) -> Iterator[tuple[str, list[list[str]]]]:
    seen: list[list[str]] = []
    protocol = BoundedHttpToolsProtocol if request.param == "zero-copy" else _NoZeroCopy
    with _serving(data[0], protocol, seen) as (url, _):
        yield url, seen


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """For each ``sendfile`` send: the count asked for, then, once it returned, the bytes
    it sent (the real function still runs)."""
    calls: list[list[int]] = []
    real = zero_copy.send_span

    def recording(target: int, source: int, offset: int, count: int, stop: Any) -> int:
        call = [count]
        calls.append(call)
        sent = real(target, source, offset, count, stop)
        call.append(sent)
        return sent

    monkeypatch.setattr(zero_copy, "send_span", recording)
    return calls


def test_whole_and_ranged_downloads(
    server: tuple[str, list[list[str]]], data: tuple[FilesystemStore, bytes], sends: list[list[int]]
) -> None:
    url, seen = server
    content = data[1]
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:  # one connection
        whole = client.get("/file")
        ranged = client.get("/file", headers={"Range": "bytes=1000-2000999"})
        tail = client.get("/file", headers={"Range": f"bytes={SIZE - 7}-"})
    assert whole.status_code == 200
    assert hashlib.md5(whole.content).digest() == hashlib.md5(content).digest()
    assert ranged.status_code == 206 and ranged.content == content[1000:2001000]
    assert tail.content == content[-7:]
    zero = seen[0] == [zero_copy.EXTENSION]
    expected = [[SIZE, SIZE], [2_000_000, 2_000_000], [7, 7]]
    assert sends == (expected if zero else [])
    assert all(extensions == seen[0] for extensions in seen)


def test_a_client_that_leaves_early_does_not_hurt_the_next(
    server: tuple[str, list[list[str]]], data: tuple[FilesystemStore, bytes]
) -> None:
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as early:
        early.sendall(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
        assert early.recv(65536).startswith(b"HTTP/1.1 200")
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        again = client.get("/file", headers={"Range": "bytes=0-99"})
    assert again.content == data[1][:100]


def test_shutdown_cuts_a_stalled_zero_copy_send_at_its_limit(
    data: tuple[FilesystemStore, bytes], sends: list[list[int]]
) -> None:
    """A client that stops reading holds the ``sendfile`` thread in ``poll``; past
    ``timeout_graceful_shutdown`` the server still stops, and the thread with it."""
    with _serving(data[0], BoundedHttpToolsProtocol, [], timeout_graceful_shutdown=1) as (
        url,
        thread,
    ):
        port = int(url.rsplit(":", 1)[1])
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        stalled.sendall(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
        assert stalled.recv(64).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 10
        while not sends and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the socket's buffers are full: the send waits
        assert len(sends) == 1 and sends[0] == [SIZE]  # still sending
        stopping = time.monotonic()
    # leaving the block asked the server to stop and waited for it
    assert not thread.is_alive() and time.monotonic() - stopping < 10
    deadline = time.monotonic() + 5
    while len(sends[0]) == 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sends[0]) == 2 and sends[0][1] < SIZE  # the sender gave up, cut short
    stalled.close()
