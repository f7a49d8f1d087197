"""Re-cut a byte stream into chunks of a fixed size.

Sockets deliver bodies in small pieces (uvicorn: up to 64 KiB); every later
stage (hashing threads, store writes) is cheaper per byte with larger chunks.
Memory held is at most one chunk plus one incoming piece.
"""

from __future__ import annotations

from spyglass.types import ByteStream

CHUNK_SIZE = 1024 * 1024


async def rechunk(source: ByteStream, size: int = CHUNK_SIZE) -> ByteStream:
    """Yield ``size``-byte chunks (the last may be shorter); empty pieces are dropped."""
    pending: list[bytes] = []
    held = 0
    async for piece in source:
        if not piece:
            continue
        pending.append(piece)
        held += len(piece)
        while held >= size:
            joined = b"".join(pending)
            yield joined[:size]
            rest = joined[size:]
            pending = [rest] if rest else []
            held = len(rest)
    if held:
        yield b"".join(pending)
