"""Small helpers shared by the security tests."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier
from typing import Any, TypeVar

import httpx

from tests.server import LiveServer

T = TypeVar("T")
Call = Callable[[httpx.Client], int]
"""One request on a connection of its own; it returns the status code."""
OCTET = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def new_image(client: httpx.Client, headers: dict[str, str], **body: Any) -> str:
    body = {"disk_format": "raw", "container_format": "bare", **body}
    response = client.post("/v2/images", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def patch(
    client: httpx.Client, image_id: str, headers: dict[str, str], *ops: dict[str, Any]
) -> httpx.Response:
    return client.patch(f"/v2/images/{image_id}", json=list(ops), headers={**headers, **PATCH})


def together(server: LiveServer, calls: Sequence[Callable[[httpx.Client], T]]) -> list[T]:
    """Run each call on its own connection, all released at the same instant."""
    barrier = Barrier(len(calls))

    def run(call: Callable[[httpx.Client], T]) -> T:
        with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
            client.get("/versions")  # connect before the start line
            barrier.wait(timeout=30)
            return call(client)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def add_location_row(server: LiveServer, image_id: str, url: str) -> None:
    """Give an image a location directly in its SQLite database, as an operator's
    tool or an older release might have; the API refuses to make such rows."""
    with sqlite3.connect(server.data_dir / "spyglass.sqlite") as db:
        db.execute(
            "INSERT INTO image_locations (image_id, value, meta_data, status, created_at, deleted)"
            " VALUES (?, ?, ?, 'active', ?, 0)",
            (image_id, url, json.dumps({}), datetime.now(UTC).replace(tzinfo=None)),
        )
