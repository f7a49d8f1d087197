"""Image bytes stream: the server's memory stays flat whatever the image size."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.server import LiveServer, RssSampler, pattern_stream

MIB = 1024 * 1024
RSS_LIMIT_MIB = 150


def _peak_rss_mib(server: LiveServer, size: int) -> float:
    with httpx.Client(base_url=server.url, timeout=300) as client:
        image = client.post(
            "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
        ).json()
        with RssSampler(server.pid) as sampler:
            response = client.put(
                f"/v2/images/{image['id']}/file",
                content=pattern_stream(size),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert response.status_code == 204
            received = 0
            with client.stream("GET", f"/v2/images/{image['id']}/file") as download:
                for chunk in download.iter_raw():
                    received += len(chunk)
            assert received == size
        client.delete(f"/v2/images/{image['id']}")
    return sampler.peak / MIB


@pytest.mark.slow
def test_peak_rss_is_bounded_and_flat(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    small = _peak_rss_mib(server, 32 * MIB)
    large = _peak_rss_mib(server, 384 * MIB)
    assert large < RSS_LIMIT_MIB, f"peak RSS {large:.0f} MiB for a 384 MiB image"
    assert large - small < 24, f"RSS grew from {small:.0f} to {large:.0f} MiB with image size"
