"""``DataResponse``: a local file's span goes by the server's zero-copy extension when it has
one, by ``pathsend`` when the span is the whole file, and is streamed otherwise; the
same headers and the same bytes every way."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.types import Message

from spyglass.api.data_response import (
    PATH_SEND,
    ZERO_COPY,
    DataResponse,
    body_bytes,
    declared_length,
    ends_body,
)
from spyglass.api.zero_copy import SendCut
from spyglass.stores.base import ByteRange
from spyglass.stores.filesystem import FilesystemStore

DATA = os.urandom(3 * 1024 * 1024 + 17)


IMAGE = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    """A store whose data directory holds one image's file, ``DATA``."""
    (tmp_path / IMAGE).write_bytes(DATA)
    return FilesystemStore("fs", datadir=tmp_path)


async def _location(store: FilesystemStore) -> str:
    return (store.datadir / IMAGE).as_uri()


async def _answer(
    response: DataResponse, extensions: dict[str, Any], method: str = "GET"
) -> tuple[list[Message], bytes]:
    """The messages sent, and the body bytes they carry (files read as the server would)."""
    scope = {
        "type": "http",
        "method": method,
        "extensions": extensions,
        "asgi": {"spec_version": "2.4"},
    }
    messages: list[Message] = []
    body = bytearray()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
        elif message["type"] == ZERO_COPY:
            fd = message["file"].fileno()
            body.extend(os.pread(fd, message["count"], message["offset"]))
        elif message["type"] == PATH_SEND:
            body.extend(await anyio.Path(message["path"]).read_bytes())

    await response(scope, receive, send)
    return messages, bytes(body)


def _kinds(messages: list[Message]) -> list[str]:
    return [m["type"] for m in messages if m["type"] != "http.response.start"]


ZERO_COPY_SERVER: dict[str, Any] = {ZERO_COPY: {}}
PATH_SEND_SERVER: dict[str, Any] = {PATH_SEND: {}}


@pytest.mark.parametrize(
    ("extensions", "byte_range", "expected"),
    [
        (ZERO_COPY_SERVER, None, [ZERO_COPY]),
        (ZERO_COPY_SERVER, ByteRange(1000, 2_000_000), [ZERO_COPY]),
        (PATH_SEND_SERVER, None, [PATH_SEND]),
        (PATH_SEND_SERVER, ByteRange(5), ["http.response.body"]),  # pathsend sends files whole
        ({}, None, ["http.response.body"]),
    ],
)
async def test_the_way_taken_and_the_bytes(
    store: FilesystemStore,
    extensions: dict[str, Any],
    byte_range: ByteRange | None,
    expected: list[str],
) -> None:
    data = await store.get(await _location(store), byte_range=byte_range)
    assert data.local is not None
    messages, body = await _answer(DataResponse(data, status_code=206), extensions)
    kinds = _kinds(messages)
    assert kinds[0] == expected[0] and set(kinds) == set(expected)
    start = byte_range.start if byte_range else 0
    end = len(DATA) if byte_range is None or byte_range.end is None else byte_range.end + 1
    assert hashlib.md5(body).hexdigest() == hashlib.md5(DATA[start:end]).hexdigest()
    head = messages[0]
    assert head["status"] == 206
    assert declared_length(head) == len(body) == data.size
    assert data.local.fd == -1  # closed whichever way was taken


async def test_a_zero_copy_send_reports_what_it_handed_over(store: FilesystemStore) -> None:
    data = await store.get(await _location(store), byte_range=ByteRange(10, 99))
    assert data.local is not None
    reported: list[int] = []

    async def on_sent(sent: int) -> None:
        reported.append(sent)

    data.local.on_sent = on_sent
    messages, _ = await _answer(DataResponse(data), ZERO_COPY_SERVER)
    assert reported == [90]
    assert [body_bytes(m, 90) for m in messages] == [0, 90]
    assert ends_body(messages[-1])


async def test_a_send_cut_short_reports_how_far_it_got(store: FilesystemStore) -> None:
    """The server raises an ``OSError`` saying how many bytes went (``zero_copy.SendCut``);
    the response ends quietly, and ``image.send`` learns the transfer fell short."""
    data = await store.get(await _location(store))
    assert data.local is not None
    reported: list[int] = []

    async def on_sent(sent: int) -> None:
        reported.append(sent)

    async def send(message: Message) -> None:
        if message["type"] == ZERO_COPY:
            raise SendCut(4096)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    data.local.on_sent = on_sent
    scope = {"type": "http", "method": "GET", "extensions": ZERO_COPY_SERVER}
    await DataResponse(data)(scope, receive, send)
    assert reported == [4096] and data.local.fd == -1


async def test_streaming_reports_nothing_itself(store: FilesystemStore) -> None:
    """A streamed read counts its own chunks (the download service's ``image.send``)."""
    data = await store.get(await _location(store))
    assert data.local is not None
    reported: list[int] = []

    async def on_sent(sent: int) -> None:
        reported.append(sent)

    data.local.on_sent = on_sent
    _, body = await _answer(DataResponse(data), {})
    assert body == DATA and reported == []


async def test_head_requests_never_send_a_file(store: FilesystemStore) -> None:
    data = await store.get(await _location(store))
    messages, _ = await _answer(DataResponse(data), ZERO_COPY_SERVER, method="HEAD")
    assert ZERO_COPY not in _kinds(messages)
    assert data.local is not None and data.local.fd == -1
