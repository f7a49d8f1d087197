"""The registry end to end: who it trusts, and what API servers do when it is away.

Real processes over real sockets: each test owns its registry and API server, stops and
starts them. The rest of the functional suite runs through a registry in the
``*-registry`` configurations.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.functional.helpers import create, upload
from tests.server import LiveServer, RegistryServer

REGISTRY_BACKENDS = ("sqlite-registry", "postgresql-registry", "mysql-registry")
StartServer = Callable[..., LiveServer]


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60, trust_env=False)


def _registry(server: LiveServer) -> RegistryServer:
    assert server.registry is not None
    return server.registry


@pytest.mark.backends("sqlite-registry", "postgresql-registry")
def test_registry_down_is_503_with_retry_after_then_recovers(server_factory: StartServer) -> None:
    server = server_factory()
    with _client(server) as client:
        image = create(client, name="kept", disk_format="raw", container_format="bare")
        assert upload(client, image["id"], b"x" * 1000).status_code == 204
        _registry(server).stop()
        started = time.monotonic()
        for method, path, body in (
            ("GET", f"/v2/images/{image['id']}", None),
            ("GET", "/v2/images", None),
            ("POST", "/v2/images", {"name": "lost"}),
            ("GET", f"/v2/images/{image['id']}/file", None),
        ):
            response = client.request(method, path, json=body)
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "5"
        assert time.monotonic() - started < 10  # refused connections fail at once
        _registry(server).start()
        assert client.get(f"/v2/images/{image['id']}").json()["status"] == "active"
        assert client.get(f"/v2/images/{image['id']}/file").content == b"x" * 1000
        assert [i["name"] for i in client.get("/v2/images").json()["images"]] == ["kept"]
    log = server.log.read_text()
    assert "is unreachable (ConnectionRefusedError: " in log
    assert "answering 503 until it is back" in log
    assert "answers again" in log


@pytest.mark.backends("sqlite-registry")
def test_api_server_starts_without_its_registry_and_serves_once_it_is_up(
    server_factory: StartServer, tmp_path: Path
) -> None:
    server = LiveServer(tmp_path / "api")
    try:
        server.start(start_registry=False)
        with _client(server) as client:
            assert client.get("/v2/images").status_code == 503
            _registry(server).start()
            assert client.get("/v2/images").json()["images"] == []
        assert "requests answer 503 until it is back" in server.log.read_text()
    finally:
        server.stop()


@pytest.fixture
def silent_registry() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung registry)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.mark.backends("sqlite-registry")
def test_a_hung_registry_is_503_after_registry_client_timeout(
    silent_registry: int, tmp_path: Path
) -> None:
    server = LiveServer(
        tmp_path / "api",
        ["data_api = glance.db.registry.api", "registry_host = 127.0.0.1",
         f"registry_port = {silent_registry}", "registry_client_timeout = 2"],
    )  # fmt: skip
    server.provisioner = None  # its own registry settings, not the session's
    try:
        server.start()
        with _client(server) as client:
            started = time.monotonic()
            response = client.get("/v2/images")
            elapsed = time.monotonic() - started
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert 1.5 < elapsed < 8
    finally:
        server.stop()


@pytest.mark.backends("sqlite-registry", "postgresql-registry")
def test_the_registry_answers_only_callers_with_its_token(server_factory: StartServer) -> None:
    registry = _registry(server_factory())
    verify = (
        registry.provisioner.tls.client_context(certificate=False)
        if registry.provisioner.tls
        else True
    )
    with httpx.Client(base_url=registry.url, verify=verify, trust_env=False) as raw:
        body = {"image_id": "00000000-0000-4000-8000-000000000000"}
        refused = raw.post("/rpc/images.get", json=body)
        assert refused.status_code == 401
        assert "X-Registry-Auth-Token" in refused.text
        wrong = raw.post("/rpc/images.get", json=body, headers={"X-Registry-Auth-Token": "no"})
        assert wrong.status_code == 401
        token = {"X-Registry-Auth-Token": registry.provisioner.token}
        missing = raw.post("/rpc/images.get", json=body, headers=token)
        assert missing.status_code == 404
        assert missing.json()["error"]["class"] == "ImageNotFound"
        assert raw.post("/rpc/images.nope", json={}, headers=token).status_code == 404
        assert raw.post("/rpc/images.get", content=b"[", headers=token).status_code == 400
        not_a_post = raw.get("/rpc/images.get", headers=token)
        assert (not_a_post.status_code, not_a_post.headers.get("allow")) == (405, "POST")
        assert raw.get("/healthcheck").text == "OK"


@pytest.mark.backends("mysql-registry")
def test_with_ca_file_the_registry_requires_a_client_certificate(
    server_factory: StartServer,
) -> None:
    registry = _registry(server_factory())
    tls = registry.provisioner.tls_files()
    with (
        httpx.Client(
            base_url=registry.url, verify=tls.client_context(certificate=False), trust_env=False
        ) as anonymous,
        pytest.raises(httpx.HTTPError),
    ):
        anonymous.post("/rpc/images.count", json={})
    with httpx.Client(
        base_url=registry.url, verify=tls.client_context(certificate=True), trust_env=False
    ) as api_server:
        body = {"image_id": "00000000-0000-4000-8000-000000000000"}
        assert api_server.post("/rpc/members.count", json=body).json() == 0


@pytest.mark.backends("sqlite")
def test_a_registry_that_trusts_nobody_does_not_start(tmp_path: Path) -> None:
    conf = tmp_path / "glance-registry.conf"
    conf.write_text("[DEFAULT]\nbind_host = 127.0.0.1\n")
    done = subprocess.run(
        [sys.executable, "-m", "spyglass", "registry", "--config-file", str(conf),
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "spyglass: error: the registry trusts no caller: set registry_auth_token, ca_file (TLS "
        "client certificates) or [paste_deploy] flavor = keystone in glance-registry.conf"
    ]


@pytest.mark.backends("postgresql-registry")
def test_a_registry_with_workers_serves_from_each_and_stops_whole(tmp_path: Path) -> None:
    """``workers = 2`` in glance-registry.conf: two processes answer on the one port
    (HTTPS in this configuration),
    each taking its share of the connections, the API server works through them as
    through one, and stopping the registry stops every worker."""
    server = LiveServer(tmp_path / "api")
    server.registry_lines = ["workers = 2"]
    try:
        server.start()
        registry = _registry(server)
        assert registry.process is not None
        workers = psutil.Process(registry.process.pid).children()
        assert len(workers) == 2
        with _client(server) as client:
            for n in range(5):
                create(client, name=f"image-{n}", disk_format="raw", container_format="bare")
            listed = client.get("/v2/images").json()["images"]
        assert sorted(i["name"] for i in listed) == [f"image-{n}" for n in range(5)]
        # 16 connections held open: the kernel deals them out over both workers
        tls = registry.provisioner.tls_files().client_context(certificate=False)
        held = [
            tls.wrap_socket(
                socket.create_connection(("127.0.0.1", registry.port)),
                server_hostname="127.0.0.1",
            )
            for _ in range(16)
        ]
        try:
            for sock in held:
                sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: registry\r\n\r\n")
                assert b" 200 " in sock.recv(4096)
            per_worker = [
                sum(
                    1
                    for c in w.net_connections()
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == registry.port
                )
                for w in workers
            ]
            assert all(count > 0 for count in per_worker), per_worker
        finally:
            for sock in held:
                sock.close()
        registry.stop()
        assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    finally:
        server.stop()
