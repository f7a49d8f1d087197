"""JSON answers encoded by msgspec.

Starlette's ``JSONResponse`` runs ``json.dumps``; msgspec writes the same compact,
UTF-8, key-order-preserving bytes several times faster, which counts on the
metadata paths answered thousands of times a second.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """``JSONResponse`` with the body encoded by ``msgspec.json``."""

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)
