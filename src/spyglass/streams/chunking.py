"""Gather a byte stream into chunks of at least a given size.

Sockets deliver bodies in small pieces (uvicorn: up to 64 KiB); every later
stage (hashing threads, store writes) is cheaper per byte with larger chunks.
Pieces are joined once, never sliced, so each byte is copied once here; a
chunk is ``size`` bytes plus at most one incoming piece. Memory held is
bounded by that.
"""

from __future__ import annotations

from spyglass.types import ByteStream

CHUNK_SIZE = 1024 * 1024


async def rechunk(source: ByteStream, size: int = CHUNK_SIZE) -> ByteStream:
    """Yield chunks of at least ``size`` bytes (the last may be shorter); no empty ones."""
    pending: list[bytes] = []
    held = 0
    async for piece in source:
        if not piece:
            continue
        if not pending and len(piece) >= size:
            yield piece
            continue
        pending.append(piece)
        held += len(piece)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)
