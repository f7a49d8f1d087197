"""``X-Forwarded-*`` headers count only when ``[oslo_middleware]
enable_proxy_headers_parsing`` says so (Glance's default: off).

Servers on loopback, as behind a proxy on the same host that passes the client's headers
through: a client must not choose the scheme of the URLs in answers, nor the address the
access lines record and the health check's ``allowed_source_ranges`` judge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import LiveServer

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"}
PROBE = ["[healthcheck]", "allowed_source_ranges = 10.0.0.0/8"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("plain"), PROBE).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def parsing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    lines = [*PROBE, "[oslo_middleware]", "enable_proxy_headers_parsing = true"]
    server = LiveServer(tmp_path_factory.mktemp("parsing"), lines).start()
    yield server
    server.stop()


def _version_href(server: LiveServer) -> str:
    answer = httpx.get(f"{server.url}/versions", headers=FORWARDED, trust_env=False)
    return str(answer.json()["versions"][0]["links"][0]["href"])


def _access_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "spyglass.access" in line]


def test_by_default_forwarded_headers_change_nothing(plain: LiveServer) -> None:
    assert _version_href(plain).startswith(f"{plain.url}/v2")
    probe = httpx.get(f"{plain.url}/healthcheck", headers=FORWARDED, trust_env=False)
    assert probe.status_code == 404  # 127.0.0.1 is outside 10.0.0.0/8, whatever it says
    assert "10.1.2.3" not in "\n".join(_access_lines(plain.log))


def test_when_enabled_they_are_honoured(parsing: LiveServer) -> None:
    assert _version_href(parsing).startswith(f"https://127.0.0.1:{parsing.port}/v2")
    probe = httpx.get(f"{parsing.url}/healthcheck", headers=FORWARDED, trust_env=False)
    assert probe.status_code == 200
    assert _access_lines(parsing.log)[-1].split("] ", 1)[1].startswith("10.1.2.3 ")
