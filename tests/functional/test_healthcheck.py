"""``/healthcheck`` answers as oslo.middleware's does, and can be switched off by a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.backends import DIRECT
from tests.server import LiveServer


def test_a_healthy_server_answers_ok(live_server: LiveServer) -> None:
    url = f"{live_server.url}/healthcheck"
    get = httpx.get(url, trust_env=False)
    assert (get.status_code, get.text) == (200, "OK")
    assert get.headers["content-type"].startswith("text/plain")
    assert httpx.head(url, trust_env=False).status_code == 204
    as_json = httpx.get(url, headers={"Accept": "application/json"}, trust_env=False)
    assert as_json.json() == {"reasons": ["OK"], "detailed": False}


def test_a_disable_file_takes_the_server_out(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    switch = tmp_path / "healthcheck_disable"
    server = server_factory(
        "[healthcheck]", "backends = disable_by_file", f"disable_by_file_path = {switch}"
    )
    url = f"{server.url}/healthcheck"
    assert httpx.get(url, trust_env=False).status_code == 200
    switch.touch()
    down = httpx.get(url, trust_env=False)
    assert (down.status_code, down.text) == (503, "DISABLED BY FILE")
    assert httpx.head(url, trust_env=False).status_code == 503
    assert httpx.get(f"{server.url}/v2/images", trust_env=False).status_code == 200  # still serves
    switch.unlink()
    assert httpx.get(url, trust_env=False).status_code == 200


@pytest.mark.backends(*DIRECT)  # through a registry it names the registry
def test_detailed_answers_name_the_database_and_each_store(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory("[healthcheck]", "detailed = true")
    answer = httpx.get(f"{server.url}/healthcheck", trust_env=False)
    assert answer.status_code == 200
    assert answer.text.splitlines() == ["database: OK", "stores: file OK, http OK"]


def test_requests_from_outside_the_allowed_ranges_get_no_probe(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory("[healthcheck]", "allowed_source_ranges = 10.0.0.0/8")
    assert httpx.get(f"{server.url}/healthcheck", trust_env=False).status_code == 404
