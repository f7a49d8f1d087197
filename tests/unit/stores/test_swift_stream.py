"""Cutting the upload stream into segments: exact lengths, one chunk held back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from spyglass.errors import SizeMismatch
from spyglass.stores.swift_stream import Pushback


async def _chunks(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _joined(parts: AsyncIterator[bytes]) -> bytes:
    return b"".join([part async for part in parts])


async def test_segments_split_chunks_at_their_boundaries() -> None:
    stream = Pushback(_chunks(b"abcde", b"", b"fgh", b"ij"))
    assert await _joined(stream.take(3)) == b"abc"
    assert await _joined(stream.take(4, exact=True)) == b"defg"
    assert await _joined(stream.take(10)) == b"hij"
    assert await stream.next() is None
    assert await _joined(stream.take(5)) == b""


async def test_an_exact_segment_cut_short_is_a_size_mismatch() -> None:
    stream = Pushback(_chunks(b"abc"))
    with pytest.raises(SizeMismatch):
        await _joined(stream.take(4, exact=True))


async def test_a_peeked_chunk_comes_back_first() -> None:
    stream = Pushback(_chunks(b"xy", b"z"))
    first = await stream.next()
    assert first == b"xy"
    stream.push(first)
    assert await _joined(stream.take(3)) == b"xyz"
