"""``GET /`` and ``GET /versions``: which API versions this server speaks."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

SUPPORTED_MINORS = (0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 17)
"""Minor versions that need neither multi-store nor the cache (upstream's rule)."""
CURRENT_MINOR = SUPPORTED_MINORS[-1]
CACHE_MINORS = (14, 16, 18)
"""Listed only when ``image_cache_dir`` is set: the cache API, its 202, clean/prune."""


def minors(cache: bool = False) -> tuple[int, ...]:
    return tuple(sorted(SUPPORTED_MINORS + (CACHE_MINORS if cache else ())))


def accepted_versions(cache: bool = False) -> frozenset[str]:
    return frozenset({"v2"} | {f"v2.{m}" for m in minors(cache)})


def versions_document(base_url: str, cache: bool = False) -> dict[str, Any]:
    href = base_url.rstrip("/") + "/v2/"
    listed = minors(cache)
    return {
        "versions": [
            {
                "id": f"v2.{minor}",
                "status": "CURRENT" if minor == listed[-1] else "SUPPORTED",
                "links": [{"rel": "self", "href": href}],
            }
            for minor in reversed(listed)
        ]
    }


class VersionsApp:
    """Answer with the versions document; 300 except on ``GET /versions``."""

    def __init__(self, public_endpoint: str | None, *, cache: bool = False) -> None:
        self.public_endpoint = public_endpoint
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        base = self.public_endpoint or str(request.base_url)
        status = 200 if scope["path"] == "/versions" else 300
        await JSONResponse(versions_document(base, self.cache), status_code=status)(
            scope, receive, send
        )
