"""Cutting one byte stream into segments of exact lengths, without buffering.

The upload pipeline's chunks do not line up with segment boundaries: a chunk
that straddles one is split and its tail handed to the next segment, so at
most one pipeline chunk is ever held.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from spyglass.errors import SizeMismatch
from spyglass.types import ByteStream


class Pushback:
    """A byte stream with a one-chunk pushback slot and ``take(n)``."""

    def __init__(self, source: ByteStream) -> None:
        self._source = aiter(source)
        self._held: bytes | None = None
        self._done = False

    async def next(self) -> bytes | None:
        """The next non-empty chunk, or ``None`` at the end."""
        if self._held is not None:
            chunk, self._held = self._held, None
            return chunk
        while not self._done:
            try:
                chunk = await anext(self._source)
            except StopAsyncIteration:
                self._done = True
                break
            if chunk:
                return chunk
        return None

    def push(self, chunk: bytes) -> None:
        assert self._held is None, "one chunk of pushback only"
        self._held = chunk

    async def take(self, length: int, *, exact: bool = False) -> AsyncIterator[bytes]:
        """At most ``length`` bytes (exactly, or ``SizeMismatch``, when ``exact``)."""
        remaining = length
        while remaining > 0:
            chunk = await self.next()
            if chunk is None:
                if exact:
                    raise SizeMismatch("The image data is shorter than its declared size.")
                return
            if len(chunk) > remaining:
                self.push(chunk[remaining:])
                chunk = chunk[:remaining]
            remaining -= len(chunk)
            yield chunk
