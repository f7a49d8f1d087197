"""The byte pipeline stages: rechunk, size limits, digests."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from spyglass.errors import ConfigError, ImageTooLarge, SizeMismatch
from spyglass.streams.chunking import rechunk
from spyglass.streams.digest import Digester, check_algorithm
from spyglass.streams.limits import limit_size


async def _source(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


@pytest.mark.parametrize(
    ("pieces", "size", "expected"),
    [
        ((b"abc", b"", b"defg", b"h"), 3, [b"abc", b"defg", b"h"]),
        ((b"abcdefgh",), 3, [b"abcdefgh"]),
        ((b"a", b"b", b"c", b"d", b"e"), 2, [b"ab", b"cd", b"e"]),
        ((b"ab", b"cd"), 4, [b"abcd"]),
        ((), 4, []),
        ((b"", b""), 4, []),
    ],
)
async def test_rechunk_gathers_without_splitting(
    pieces: tuple[bytes, ...], size: int, expected: list[bytes]
) -> None:
    assert await _collect(rechunk(_source(*pieces), size)) == expected


async def test_limit_passes_exact_sizes() -> None:
    chunks = await _collect(limit_size(_source(b"ab", b"cd"), cap=4, expected=4))
    assert chunks == [b"ab", b"cd"]


async def test_limit_stops_as_soon_as_the_cap_is_passed() -> None:
    seen: list[bytes] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            seen.append(b"x")
            yield b"xxxx"

    with pytest.raises(ImageTooLarge):
        await _collect(limit_size(endless(), cap=10))
    assert len(seen) == 3


@pytest.mark.parametrize("expected", [3, 5])
async def test_limit_refuses_a_size_other_than_declared(expected: int) -> None:
    with pytest.raises(SizeMismatch):
        await _collect(limit_size(_source(b"ab", b"cd"), cap=None, expected=expected))


async def test_digester_matches_hashlib() -> None:
    pieces = [bytes([i]) * (1000 + i) for i in range(50)]
    digester = Digester("sha256")
    assert await _collect(digester.wrap(_source(*pieces))) == pieces
    data = b"".join(pieces)
    result = digester.result
    assert result.checksum == hashlib.md5(data).hexdigest()
    assert result.os_hash_algo == "sha256"
    assert result.os_hash_value == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)


async def test_digester_result_needs_the_whole_stream() -> None:
    digester = Digester("sha512")
    stream = digester.wrap(_source(b"a", b"b"))
    await anext(stream)
    with pytest.raises(RuntimeError):
        _ = digester.result
    assert await _collect(stream) == [b"b"]
    assert digester.result.size == 2


def test_unknown_algorithm_is_a_config_error() -> None:
    check_algorithm("sha512")
    with pytest.raises(ConfigError):
        check_algorithm("sha4096")
