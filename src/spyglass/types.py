"""Type aliases shared across layers."""

from __future__ import annotations

from collections.abc import AsyncIterator

ByteStream = AsyncIterator[bytes]
"""Image bytes in bounded chunks; every data path in Spyglass is one of these."""
