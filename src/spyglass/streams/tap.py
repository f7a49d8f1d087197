"""Run a blocking function on every chunk of a stream, in a worker thread.

The chunk is passed on downstream at once while the function works on it, so
CPU work (hashing, format inspection) overlaps the store's I/O. Calls happen
one at a time and in order, so the function may keep state without locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio.to_thread

from spyglass.types import ByteStream


async def tap(source: ByteStream, func: Callable[[bytes], None]) -> ByteStream:
    """Yield ``source``'s chunks unchanged; ``func`` has seen all of them when this ends."""
    pending: asyncio.Future[None] | None = None
    try:
        async for chunk in source:
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(anyio.to_thread.run_sync(func, chunk))
            yield chunk
        if pending is not None:
            await pending
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
