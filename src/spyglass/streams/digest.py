"""MD5 (``checksum``) and the secure hash (``os_hash_value``) of a stream.

Hashing is the most expensive thing an upload does (about 3 s of CPU per GiB
for md5 + sha512). Each chunk is hashed in a worker thread (hashlib releases the
GIL) while the next stage already writes it, so hashing overlaps storage I/O and
the event loop stays free. One chunk is hashed at a time, in order.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread

from spyglass.errors import BadRequest
from spyglass.types import ByteStream


@dataclass(frozen=True, slots=True)
class Digests:
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    size: int


def new_hasher(algorithm: str) -> hashlib._Hash:
    """A hashlib object for ``hashing_algorithm``; unknown names are a config error."""
    try:
        return hashlib.new(algorithm)
    except ValueError:
        raise BadRequest(f"Unsupported hashing algorithm {algorithm!r}") from None


class Digester:
    """Wrap a stream; after it is exhausted, ``result`` holds the digests."""

    def __init__(self, algorithm: str) -> None:
        self._algorithm = algorithm
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._secure = new_hasher(algorithm)
        self._size = 0
        self._result: Digests | None = None

    def _update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._secure.update(chunk)

    async def wrap(self, source: ByteStream) -> ByteStream:
        previous: asyncio.Future[None] | None = None
        try:
            async for chunk in source:
                if previous is not None:
                    await previous
                self._size += len(chunk)
                previous = _start(self._update, chunk)
                yield chunk
            if previous is not None:
                await previous
        finally:
            if previous is not None and not previous.done():
                previous.cancel()
        self._result = Digests(
            checksum=self._md5.hexdigest(),
            os_hash_algo=self._algorithm,
            os_hash_value=self._secure.hexdigest(),
            size=self._size,
        )

    @property
    def result(self) -> Digests:
        if self._result is None:
            raise RuntimeError("the stream has not been read to its end")
        return self._result


def _start(func: Callable[[bytes], None], chunk: bytes) -> asyncio.Future[None]:
    """Run ``func(chunk)`` in a worker thread now; the returned task is awaited later."""
    return asyncio.ensure_future(anyio.to_thread.run_sync(func, chunk))
