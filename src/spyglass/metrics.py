"""Prometheus metrics: what each worker counts, and the text a scrape gets.

Counting happens through the maintained ``prometheus-client`` library. With several worker
processes (``workers > 1``) the parent points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory
before the workers start, so every worker writes its counts there and any worker's scrape
answers for all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "BYTES",
    "CACHE",
    "CONTENT_TYPE_LATEST",
    "OUTBOX_BACKLOG",
    "REQUESTS",
    "REQUEST_SECONDS",
    "exposition",
]

REQUESTS = Counter(
    "spyglass_http_requests_total",
    "HTTP requests answered, by method, handler and status code.",
    ["method", "handler", "status"],
)
REQUEST_SECONDS = Histogram(
    "spyglass_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte.",
    ["method", "handler"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60, 600),
)
BYTES = Counter(
    "spyglass_http_body_bytes_total",
    "Request body bytes received (in) and response body bytes sent (out).",
    ["direction"],
)
CACHE = Counter(
    "spyglass_image_cache_requests_total",
    "Image downloads the cache answered (hit) or had to read from the store (miss).",
    ["result"],
)
OUTBOX_BACKLOG = Gauge(
    "spyglass_notification_outbox_backlog",
    "Notifications recorded but not yet delivered to the broker.",
    multiprocess_mode="mostrecent",
)


def exposition() -> bytes:
    """The Prometheus text format of every metric (of every worker, in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
