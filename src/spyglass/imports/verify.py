"""The verify step: checks that run on the staged data after the plugins and
before the import into the stores (the signature and ``validation_data``
checks plug in here).

A verifier raises ``ImportFailed`` (or any ``SpyglassError``) to refuse the
image; the import then removes everything it wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from spyglass.domain.image import Image


class Verifier(Protocol):
    async def verify(self, image: Image, path: Path) -> None: ...
