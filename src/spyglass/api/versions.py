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
MULTI_STORE_MINORS = (8, 10, 11, 12, 13)
"""Listed only with ``enabled_backends``: multi-store, copy-image and per-store deletes,
the Victoria bump, an image's tasks, quota usage (upstream's rule)."""


def minors(cache: bool = False, multi_store: bool = False) -> tuple[int, ...]:
    extra = (CACHE_MINORS if cache else ()) + (MULTI_STORE_MINORS if multi_store else ())
    return tuple(sorted(SUPPORTED_MINORS + extra))


def accepted_versions(cache: bool = False, multi_store: bool = False) -> frozenset[str]:
    return frozenset({"v2"} | {f"v2.{m}" for m in minors(cache, multi_store)})


def versions_document(
    base_url: str,
    cache: bool = False,
    *,
    v1: bool = False,
    v2: bool = True,
    multi_store: bool = False,
) -> dict[str, Any]:
    """v2's minors (when served), then v1.1 and v1.0 as SUPPORTED when v1 is served."""
    href = base_url.rstrip("/") + "/v2/"
    listed = minors(cache, multi_store)
    versions = [
        {
            "id": f"v2.{minor}",
            "status": "CURRENT" if minor == listed[-1] else "SUPPORTED",
            "links": [{"rel": "self", "href": href}],
        }
        for minor in reversed(listed)
        if v2
    ]
    if v1:
        v1_href = base_url.rstrip("/") + "/v1/"
        versions += [
            {"id": version, "status": "SUPPORTED", "links": [{"rel": "self", "href": v1_href}]}
            for version in ("v1.1", "v1.0")
        ]
    return {"versions": versions}


class VersionsApp:
    """Answer with the versions document; 300 except on ``GET /versions``."""

    def __init__(
        self,
        public_endpoint: str | None,
        *,
        cache: bool = False,
        v1: bool = False,
        v2: bool = True,
        multi_store: bool = False,
    ) -> None:
        self.public_endpoint = public_endpoint
        self.cache = cache
        self.multi_store = multi_store
        self.v1 = v1
        self.v2 = v2

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        base = self.public_endpoint or str(request.base_url)
        status = 200 if scope["path"] == "/versions" else 300
        document = versions_document(
            base, self.cache, v1=self.v1, v2=self.v2, multi_store=self.multi_store
        )
        await JSONResponse(document, status_code=status)(scope, receive, send)
