"""``/metrics``: off by default; when on, every worker's requests, bytes and cache hits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.functional.helpers import create, upload
from tests.server import LiveServer

ON = ("[metrics]", "enabled = true")


def scrape(server: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{server.url}/metrics", trust_env=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


def test_metrics_are_off_by_default(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/metrics", trust_env=False)
    assert "spyglass_http_requests_total" not in response.text


def test_requests_bytes_and_latency_are_counted(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(*ON)
    data = b"x" * 100_000
    before = scrape(server)  # the start-up probe's requests
    with httpx.Client(base_url=server.url, trust_env=False) as client:
        image = create(client, name="m", disk_format="raw", container_format="bare")
        assert upload(client, image["id"], data).status_code == 204
        assert client.get(f"/v2/images/{image['id']}/file").content == data
        assert client.get("/v2/images/00000000-0000-0000-0000-000000000000").status_code == 404
    after = scrape(server)
    samples = {key: v - before.get(key, 0.0) for key, v in after.items()}
    total = "spyglass_http_requests_total"
    assert value(samples, total, method="POST", status="201") == 1
    assert value(samples, total, method="PUT", status="204") == 1
    assert value(samples, total, method="GET", status="200") == 1
    assert value(samples, total, method="GET", status="404") == 1
    assert value(samples, "spyglass_http_body_bytes_total", direction="in") >= len(data)
    assert value(samples, "spyglass_http_body_bytes_total", direction="out") >= len(data)
    assert value(samples, "spyglass_http_request_duration_seconds_count", method="PUT") == 1
    handlers = {dict(ls).get("handler") for (n, ls) in samples if n == total}
    assert not any(h and image["id"] in h for h in handlers)  # ids never become labels


def test_every_workers_requests_are_counted(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory(*ON, "workers = 2")
    ok = "spyglass_http_requests_total"
    before = value(scrape(server), ok, method="GET", status="200")
    for _ in range(20):  # a new connection each time, spread over both workers
        assert httpx.get(f"{server.url}/v2/images", trust_env=False).status_code == 200
    for _ in range(3):  # whichever worker answers the scrape, it answers for both
        samples = scrape(server)
        assert value(samples, ok, method="GET", status="200") == before + 20


def test_cache_hits_and_misses_are_counted(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    cache = f"image_cache_dir = {tmp_path / 'cache'}"
    server = server_factory(cache, *ON, "[paste_deploy]", "flavor = cachemanagement")
    with httpx.Client(base_url=server.url, trust_env=False) as client:
        image = create(client, name="c", disk_format="raw", container_format="bare")
        assert upload(client, image["id"], b"cached bytes").status_code == 204
        client.get(f"/v2/images/{image['id']}/file")  # a miss, which fills the cache
        for _ in range(50):
            samples = scrape(server)
            if value(samples, "spyglass_image_cache_requests_total", result="miss") == 1:
                break
        client.get(f"/v2/images/{image['id']}/file")
    samples = scrape(server)
    assert value(samples, "spyglass_image_cache_requests_total", result="miss") == 1
    assert value(samples, "spyglass_image_cache_requests_total", result="hit") == 1
