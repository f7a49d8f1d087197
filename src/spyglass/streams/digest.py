"""MD5 (``checksum``) and the secure hash (``os_hash_value``) of a stream.

Hashing is the most expensive thing an upload does (about 3 s of CPU per GiB
for md5 + sha512). Each hash runs in its own worker thread through ``tap``
(hashlib releases the GIL), so the two overlap each other and the store's
writes, and the event loop stays free.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from spyglass.errors import ConfigError
from spyglass.streams.tap import tap
from spyglass.types import ByteStream


@dataclass(frozen=True, slots=True)
class Digests:
    checksum: str
    os_hash_algo: str
    os_hash_value: str
    size: int


def check_algorithm(algorithm: str) -> None:
    """Refuse a ``hashing_algorithm`` hashlib does not know, at start-up."""
    try:
        hashlib.new(algorithm)
    except ValueError:
        raise ConfigError(f"hashing_algorithm: unsupported algorithm {algorithm!r}") from None


class Digester:
    """Wrap a stream; after it is exhausted, ``result`` holds the digests."""

    def __init__(self, algorithm: str) -> None:
        self._algorithm = algorithm
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._secure = hashlib.new(algorithm)
        self._size = 0
        self._done = False

    def _update_md5(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._size += len(chunk)

    async def wrap(self, source: ByteStream) -> ByteStream:
        """Two taps, so MD5 and the secure hash of a chunk run on two threads at once."""
        async for chunk in tap(tap(source, self._update_md5), self._secure.update):
            yield chunk
        self._done = True

    @property
    def result(self) -> Digests:
        if not self._done:
            raise RuntimeError("the stream has not been read to its end")
        return Digests(
            checksum=self._md5.hexdigest(),
            os_hash_algo=self._algorithm,
            os_hash_value=self._secure.hexdigest(),
            size=self._size,
        )
