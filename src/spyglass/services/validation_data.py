"""``validation_data`` on a new location: the hashes its owner says the data has, checked.

Upstream copies ``checksum``/``os_hash_value`` from a PATCH straight onto the image without
reading a byte (and checks them only in the v2.17 API's background task), so a user can give
an image hashes its data does not have. Spyglass reads the data at the location once, through
the store that serves it, and refuses the location unless the hashes match; the image then
carries them. Nothing changes until the whole check has passed, so a crash or a refusal
leaves the image as it was.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from spyglass.domain.image import Image
from spyglass.errors import BadRequest, Conflict
from spyglass.stores.registry import StoreSet
from spyglass.streams.digest import Digester, Digests

_HEX = re.compile(r"[0-9a-fA-F]+\Z")


@dataclass(frozen=True, slots=True)
class ValidationData:
    os_hash_algo: str
    os_hash_value: str
    checksum: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> ValidationData | None:
        """``None`` when absent; 400 for anything upstream's schema would not take."""
        if raw is None or raw == {}:
            return None
        if not isinstance(raw, dict) or set(raw) - {"checksum", "os_hash_algo", "os_hash_value"}:
            raise BadRequest("validation_data takes checksum, os_hash_algo and os_hash_value only.")
        algo, value, checksum = (
            raw.get("os_hash_algo"),
            raw.get("os_hash_value"),
            raw.get("checksum"),
        )
        if not isinstance(algo, str) or not isinstance(value, str):
            raise BadRequest("validation_data needs os_hash_algo and os_hash_value strings.")
        try:
            size = hashlib.new(algo).digest_size
        except (ValueError, TypeError):
            raise BadRequest(f"validation_data: unsupported os_hash_algo {algo!r}.") from None
        if not _HEX.match(value) or len(value) != 2 * size:
            raise BadRequest(f"validation_data: os_hash_value is not a {algo} digest.")
        if checksum is not None and (
            not isinstance(checksum, str) or not _HEX.match(checksum) or len(checksum) != 32
        ):
            raise BadRequest("validation_data: checksum is not an MD5 digest.")
        return cls(algo, value.lower(), checksum.lower() if checksum else None)

    def check_against(self, image: Image) -> None:
        """Values the image already has must be the same (upstream's 409)."""
        for name, given in (
            ("checksum", self.checksum),
            ("os_hash_algo", self.os_hash_algo),
            ("os_hash_value", self.os_hash_value),
        ):
            current = getattr(image, name)
            if given is not None and current and current != given:
                raise Conflict(f"{name} is already set with a different value.")

    async def verify(self, stores: StoreSet, url: str) -> Digests:
        """Read the data at ``url`` and compare; 400 when it is not what was promised."""
        digester = Digester(self.os_hash_algo)
        read = await stores.for_location(url).get(url)
        async for _ in digester.wrap(read.stream):
            pass
        digests = digester.result
        if digests.os_hash_value != self.os_hash_value:
            raise BadRequest(
                f"validation_data: the data at the location does not have this "
                f"{self.os_hash_algo} os_hash_value."
            )
        if self.checksum is not None and digests.checksum != self.checksum:
            raise BadRequest(
                "validation_data: the data at the location does not have this checksum."
            )
        return digests

    @staticmethod
    def apply(image: Image, digests: Digests) -> None:
        image.checksum = digests.checksum
        image.os_hash_algo = digests.os_hash_algo
        image.os_hash_value = digests.os_hash_value
