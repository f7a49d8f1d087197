"""Shared fixtures: a real server over a real socket, and clients for it."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import BACKENDS, Provisioner, activate
from tests.http_origin import HttpOrigin
from tests.server import LiveServer, servers_that_died


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=None,
        help="Configurations the functional suite runs in, comma-separated (default: all, "
        f"or SPYGLASS_TEST_BACKENDS): {', '.join(BACKENDS)}",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): the configurations a test can run in")


SHARED_SERVICES: dict[str, str] = {
    "ceph": "ceph",  # the RBD contract stops and starts the one osd every RBD test uses
    "foreign_pool": "ceph",
    "private_broker": "rabbitmq-private",  # fault tests stop it; its starter stops it at the end
    "keystone": "keystone",  # the session that started Keystone stops it at its end
    "keystone_proxy": "keystone",
    "private_pg": "postgres-private",  # the fault tests stop and start that cluster
}
"""Fixtures standing for a service some test stops or restarts, and the service's name."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that share a service one of them stops run in one pytest-xdist worker, one after
    the other (``--dist loadgroup``), so no test sees a service another worker took away.
    Services used together by one test join one group, so no pair is split across workers."""
    group_of: dict[str, str] = {}

    def root(name: str) -> str:
        while group_of.get(name, name) != name:
            name = group_of[name]
        return name

    needs = [
        {SHARED_SERVICES[f] for f in getattr(item, "fixturenames", ()) if f in SHARED_SERVICES}
        for item in items
    ]
    for services in needs:
        first, *others = sorted(services) or [""]
        for other in others:
            group_of[root(other)] = root(first)
    for item, services in zip(items, needs, strict=True):
        if services:
            item.add_marker(pytest.mark.xdist_group(root(min(services))))


_CURRENT: list[Provisioner] = []
"""The live ``metadata_backend`` configuration (pytest keeps the last one until the session
ends, after the tests that asked for it)."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Only tests that ask for ``metadata_backend`` run in its configuration: the others (the
    fuzz suite, the database integration tests with their own ``[database]`` lines) get plain
    SQLite even when they run after a parametrized suite left a configuration alive."""
    uses_it = "metadata_backend" in getattr(item, "fixturenames", ())
    activate(_CURRENT[0] if uses_it and _CURRENT else None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with the log of every test server that died on its own
    meanwhile (``tests.server.servers_that_died``); after any other test those are
    forgotten, so a server a passing test killed on purpose is not blamed later."""
    report: pytest.TestReport = yield
    died = servers_that_died()
    if report.failed:
        for what, code, tail in died:
            report.sections.append((f"{what} exited with {code}", tail))
    return report


@pytest.fixture(scope="session")
def metadata_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The configuration servers started now run in (``tests.backends``); plain SQLite
    unless a suite is parametrized over them (``tests/functional``)."""
    name: str = getattr(request, "param", "sqlite")
    provisioner = Provisioner(BACKENDS[name], tmp_path_factory.mktemp(f"backend-{name}"))
    activate(provisioner)
    _CURRENT[:] = [provisioner]
    yield name
    _CURRENT.clear()
    activate(None)
    provisioner.close()


@pytest.fixture(scope="session")
def live_server(
    metadata_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server with embedded defaults, shared by the whole session."""
    server = LiveServer(tmp_path_factory.mktemp("spyglass")).start()
    yield server
    server.stop()


@pytest.fixture
def server_factory(metadata_backend: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers with their own config lines; all are stopped after the test."""
    started: list[LiveServer] = []

    def start(*config_lines: str) -> LiveServer:
        server = LiveServer(tmp_path / f"server{len(started)}", config_lines).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30, trust_env=False) as http:
        yield http


@pytest.fixture
def origin() -> Iterator[HttpOrigin]:
    """A web server on loopback holding image bytes (HTTP locations, copy-from)."""
    with HttpOrigin() as server:
        yield server
