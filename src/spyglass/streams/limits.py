"""Enforce size limits while the bytes flow, not after they are stored."""

from __future__ import annotations

from spyglass.errors import ImageTooLarge, SizeMismatch
from spyglass.types import ByteStream


async def limit_size(
    source: ByteStream, *, cap: int | None, expected: int | None = None
) -> ByteStream:
    """Pass bytes through, failing as soon as ``cap`` is passed or ``expected`` is missed.

    ``cap`` is the most an image may hold (``image_size_cap`` or quota left);
    ``expected`` is the size the client declared, which must match exactly.
    """
    seen = 0
    async for chunk in source:
        seen += len(chunk)
        if cap is not None and seen > cap:
            raise ImageTooLarge(f"Image exceeds the storage quota or size limit of {cap} bytes.")
        if expected is not None and seen > expected:
            raise SizeMismatch(
                f"Size of uploaded data is larger than the declared size {expected}."
            )
        yield chunk
    if expected is not None and seen != expected:
        raise SizeMismatch(
            f"Size of uploaded data ({seen}) does not match the declared size ({expected})."
        )
