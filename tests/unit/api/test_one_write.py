"""A small answer's head and body leave in one write (``api/one_write.py``), over a real
uvicorn server on the project's protocol: what each request wrote to its connection, and
that clients read the same answers as before (keep-alive, ``HEAD``, chunked, close)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from spyglass.api.http_protocol import BoundedHttpToolsProtocol
from spyglass.api.one_write import JOIN_LIMIT
from tests.unit.api.threaded_server import serving

SMALL = b'{"id": "x"}'
LARGE = b"L" * (JOIN_LIMIT + 1)


class _Recording:
    """The real transport, with every ``write`` also kept in ``writes``."""

    def __init__(self, transport: asyncio.Transport, writes: list[bytes]) -> None:
        self._transport = transport
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


WRITES: list[bytes] = []


class _RecordingProtocol(BoundedHttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Recording(transport, WRITES))  # type: ignore[arg-type]


async def _small(request: Request) -> Response:
    return Response(SMALL, media_type="application/json")


async def _large(request: Request) -> Response:
    return Response(LARGE)


async def _closing(request: Request) -> Response:
    return Response(SMALL, headers={"Connection": "close"})


async def _empty(request: Request) -> Response:
    return Response(status_code=204)


async def _streamed(request: Request) -> StreamingResponse:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"one", b"two", b"three"):
            yield piece

    return StreamingResponse(pieces())


APP = Starlette(
    routes=[
        Route("/small", _small, methods=["GET", "HEAD"]),
        Route("/large", _large),
        Route("/closing", _closing),
        Route("/empty", _empty),
        Route("/streamed", _streamed),
    ]
)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving(APP, _RecordingProtocol) as (address, _):
        yield address


@contextlib.contextmanager
def _written() -> Iterator[list[bytes]]:
    """What the server writes meanwhile (one request at a time)."""
    WRITES.clear()
    yield WRITES


def test_a_small_answer_is_one_write(url: str) -> None:
    with httpx.Client(base_url=url) as client, _written() as writes:
        response = client.get("/small")
    assert response.content == SMALL
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert writes[0].endswith(b"\r\n\r\n" + SMALL)


def test_keep_alive_answers_each_in_one_write(url: str) -> None:
    with httpx.Client(base_url=url) as client, _written() as writes:
        answers = [client.get("/small") for _ in range(3)]
    assert [a.content for a in answers] == [SMALL] * 3
    assert len(writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200") and w.endswith(SMALL) for w in writes)


def test_a_large_body_is_not_copied_onto_the_head(url: str) -> None:
    with httpx.Client(base_url=url) as client, _written() as writes:
        response = client.get("/large")
    assert response.content == LARGE
    assert writes[0].startswith(b"HTTP/1.1 200") and writes[0].endswith(b"\r\n\r\n")
    assert b"".join(writes[1:]) == LARGE


def test_head_answer_is_its_head_alone(url: str) -> None:
    with httpx.Client(base_url=url) as client, _written() as writes:
        response = client.head("/small")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(SMALL))
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\n")


def test_no_content(url: str) -> None:
    with httpx.Client(base_url=url) as client, _written() as writes:
        response = client.get("/empty")
    assert response.status_code == 204 and response.content == b""
    assert len(writes) == 1


def test_streamed_answer_joins_only_its_first_piece(url: str) -> None:
    with httpx.Client(base_url=url) as client, _written() as writes:
        response = client.get("/streamed")
    assert response.content == b"onetwothree"
    assert writes[0].startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in writes[0]
    assert writes[0].endswith(b"\r\n\r\n3\r\none\r\n")
    assert b"".join(writes[1:]) == b"3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n"


def test_connection_close_still_closes_after_the_answer(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with _written() as writes, socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /closing HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):  # ends only when the server closes
            received += chunk
    assert received.startswith(b"HTTP/1.1 200") and received.endswith(SMALL)
    assert b"connection: close" in received.lower()
    assert writes == [received]
