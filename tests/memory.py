"""Peak server memory while an image goes through a store: reusable for every store driver.

A driver's end-to-end test starts a ``LiveServer`` configured for its backend and calls
:func:`assert_memory_is_flat` (``store_id`` picks the backend under multi-store), with sizes
its backend can hold; the bytes are checked on the way back.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import httpx

from tests.server import LiveServer, RssSampler, pattern_stream

MIB = 1024 * 1024
RSS_LIMIT_MIB = 150
GROWTH_LIMIT_MIB = 24


def peak_rss_mib(server: LiveServer, size: int, *, store_id: str | None = None) -> float:
    """Upload ``size`` bytes (to ``store_id``) and download them again; the server's peak
    RSS in MiB meanwhile. Fails unless the bytes come back identical."""
    headers = {"Content-Type": "application/octet-stream"}
    if store_id is not None:
        headers["X-Image-Meta-Store"] = store_id
    sent = hashlib.sha256()
    with httpx.Client(base_url=server.url, timeout=600, trust_env=False) as client:
        image = client.post(
            "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
        ).json()
        try:
            with RssSampler(server.pid) as sampler:

                def counted() -> Iterator[bytes]:
                    for piece in pattern_stream(size):
                        sent.update(piece)
                        yield piece

                response = client.put(
                    f"/v2/images/{image['id']}/file", content=counted(), headers=headers
                )
                assert response.status_code == 204, response.text
                received = hashlib.sha256()
                with client.stream("GET", f"/v2/images/{image['id']}/file") as download:
                    for chunk in download.iter_raw():
                        received.update(chunk)
            assert received.hexdigest() == sent.hexdigest(), "the image came back different"
        finally:  # a server that died must not hide why the transfer failed
            with contextlib.suppress(httpx.TransportError):
                client.delete(f"/v2/images/{image['id']}")
    return sampler.peak / MIB


def assert_memory_is_flat(
    server: LiveServer, *, small: int, large: int, store_id: str | None = None
) -> None:
    """Peak RSS stays under 150 MiB for the ``large`` image and grows by less than
    24 MiB from the ``small`` one: memory does not depend on image size."""
    low = peak_rss_mib(server, small, store_id=store_id)
    high = peak_rss_mib(server, large, store_id=store_id)
    label = f"a {large // MIB} MiB image" + (f" in store {store_id}" if store_id else "")
    assert high < RSS_LIMIT_MIB, f"peak RSS {high:.0f} MiB for {label}"
    assert high - low < GROWTH_LIMIT_MIB, f"RSS grew from {low:.0f} to {high:.0f} MiB with size"
