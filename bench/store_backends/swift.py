"""Swift: the test Swift of ``scripts/swift.sh``; its own client is python-swiftclient.

upstream's glance_store Swift driver authenticates only through Keystone v3 (its
connection manager always builds a keystoneauth ``V3Password``), so with
``BENCH_SWIFT_KEYSTONE=<Keystone URL>`` (``scripts/keystone.sh``) all three movers go
through a Keystone proxy of the same Swift (``scripts/swift.sh proxy-start PORT 86400 URL``)
as user ``glance`` of project ``service``, and upstream can be measured. Without it the own
client and Spyglass use tempauth on the main proxy (``$SWIFT_PORT``), and the run needs
``--no-upstream``.

All three write segments of ``BENCH_SWIFT_SEGMENT_MIB`` (100) MiB behind a DLO manifest
above that size (swiftclient: ``SwiftService.upload`` with that ``segment_size``, its
default 10 segment threads; glance_store and Spyglass: ``swift_store_large_object_size``
and ``_chunk_size``); downloads are one GET read in 1 MiB pieces.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from store_backends import StoreBackend, UpstreamStore

REPO = Path(__file__).resolve().parents[2]
SWIFT_SH = REPO / "scripts" / "swift.sh"
SEGMENT_MIB = int(os.environ.get("BENCH_SWIFT_SEGMENT_MIB", "100"))
READ_SIZE = 1024 * 1024
TEMPAUTH = ("test:tester", "testing")
KEYSTONE_USER = ("glance", "glance-secret", "service")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keystone(
    keystone: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[Any, str]:
    """One Keystone v3 call: the JSON answer (None when empty) and ``X-Subject-Token``."""
    headers = {"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})}
    request = urllib.request.Request(
        f"{keystone}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        raw = response.read()
        return (json.loads(raw) if raw else None), response.headers.get("X-Subject-Token", "")


def _login(keystone: str, user: str, password: str, project: str) -> tuple[str, str]:
    """A project-scoped token and the project's id."""
    identity = {"name": user, "password": password, "domain": {"id": "default"}}
    scope = {"project": {"name": project, "domain": {"id": "default"}}}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": identity}},
                     "scope": scope}}  # fmt: skip
    answer, token = _keystone(keystone, "POST", "/v3/auth/tokens", body)
    return token, str(answer["token"]["project"]["id"])


def _project_id(keystone: str) -> str:
    """The id of project ``service``, from a token of user ``glance``."""
    return _login(keystone, *KEYSTONE_USER)[1]


def _register_endpoint(keystone: str, port: int) -> None:
    """Make the proxy on ``port`` the catalog's only ``object-store`` endpoint: swiftclient
    looks the service up in the catalog even when it is given the storage URL."""
    password = os.environ.get("KEYSTONE_ADMIN_PASSWORD", "admin-secret")
    token, _ = _login(keystone, "admin", password, "admin")
    found, _ = _keystone(keystone, "GET", "/v3/services?type=object-store", token=token)
    if found["services"]:
        service = found["services"][0]["id"]
    else:
        body = {"service": {"type": "object-store", "name": "swift"}}
        service = _keystone(keystone, "POST", "/v3/services", body, token)[0]["service"]["id"]
    old, _ = _keystone(keystone, "GET", f"/v3/endpoints?service_id={service}", token=token)
    for endpoint in old["endpoints"]:
        _keystone(keystone, "DELETE", f"/v3/endpoints/{endpoint['id']}", token=token)
    endpoint = {"service_id": service, "interface": "public", "region_id": "RegionOne",
                "url": f"http://127.0.0.1:{port}/v1/AUTH_$(project_id)s"}  # fmt: skip
    _keystone(keystone, "POST", "/v3/endpoints", {"endpoint": endpoint}, token)


class Swift(StoreBackend):
    name = "swift"
    own_client = (
        f"python-swiftclient SwiftService.upload, {SEGMENT_MIB} MiB DLO segments on its "
        "10 segment threads; get_object read in 1 MiB pieces"
    )
    remark = (
        "swift: all three movers share one single-replica Swift all-in-one (eventlet proxy "
        "and object server) on the same two cores, so whatever CPU a mover spends is taken "
        'from Swift. In the profile ("Stores: where the time goes") Swift\'s servers spend '
        "about 0.7x Spyglass's CPU per GiB uploaded and four times Spyglass's per GiB "
        "downloaded: downloads run at Swift's rate for every mover (the own client, upstream "
        "and Spyglass within 25% of each other), so 1.5x upstream is out of reach there. "
        "Uploads: half of Spyglass's CPU is MD5 + SHA-512, which the own client does not "
        "compute, and the own client sends its segments on 10 threads at once, which a "
        "server streaming one request cannot do without holding several segments in memory."
    )

    def __init__(self) -> None:
        self.keystone = os.environ.get("BENCH_SWIFT_KEYSTONE", "").rstrip("/")
        self.proxy_port = int(os.environ.get("SWIFT_PORT", "8080"))
        self.storage_url = ""
        self.container = "bench-own"

    # -- where and how -------------------------------------------------------------------

    def unavailable(self) -> str | None:
        try:
            import swiftclient  # type: ignore[import-untyped]  # noqa: F401
        except ImportError:
            return "python-swiftclient is not installed (pip install -e '.[test]')"
        status = subprocess.run(
            ["bash", str(SWIFT_SH), "status"], capture_output=True, text=True, check=False
        )
        if status.returncode != 0:
            return "Swift is not running (scripts/swift.sh install && scripts/swift.sh start)"
        if self.keystone:
            self.proxy_port = _free_port()
            command = ["proxy-start", str(self.proxy_port), "86400", self.keystone]
            started = subprocess.run(
                ["bash", str(SWIFT_SH), *command],
                capture_output=True,
                text=True,
                check=False,
            )
            if started.returncode != 0:
                return f"no Keystone proxy: {started.stderr.strip()[-300:]}"
            stop = ["bash", str(SWIFT_SH), "proxy-stop", str(self.proxy_port)]
            atexit.register(subprocess.run, stop, capture_output=True, check=False)
            self.storage_url = (
                f"http://127.0.0.1:{self.proxy_port}/v1/AUTH_{_project_id(self.keystone)}"
            )
            _register_endpoint(self.keystone, self.proxy_port)
        return None

    def _store_options(self, container: str) -> list[str]:
        if self.keystone:
            user, password, project = KEYSTONE_USER
            auth = [
                "swift_store_auth_version = 3",
                f"swift_store_auth_address = {self.keystone}/v3",
                f"swift_store_user = {project}:{user}",
                f"swift_store_key = {password}",
                f"swift_store_endpoint = {self.storage_url}",
            ]
        else:
            auth = [
                "swift_store_auth_version = 1",
                f"swift_store_auth_address = http://127.0.0.1:{self.proxy_port}/auth/v1.0",
                f"swift_store_user = {TEMPAUTH[0]}",
                f"swift_store_key = {TEMPAUTH[1]}",
            ]
        return [
            *auth,
            f"swift_store_container = {container}",
            "swift_store_create_container_on_put = True",
            f"swift_store_large_object_size = {SEGMENT_MIB}",
            f"swift_store_large_object_chunk_size = {SEGMENT_MIB}",
        ]

    def spyglass_lines(self, work: Path) -> list[str]:
        return ["[glance_store]", "default_store = swift", *self._store_options("bench-spyglass")]

    def upstream_store(self, work: Path) -> UpstreamStore:
        if not self.keystone:
            raise SystemExit(
                "swift: upstream's glance_store authenticates to Swift only through Keystone "
                "v3; set BENCH_SWIFT_KEYSTONE=http://127.0.0.1:PORT (scripts/keystone.sh) "
                "or run with --no-upstream"
            )
        section = "\n".join(["[bench]", *self._store_options("bench-upstream")])
        return UpstreamStore(
            backends="bench:swift",
            default="bench",
            sections=section + "\n",
            pip=("python-swiftclient",),
        )

    # -- the own client ------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        if self.keystone:
            user, password, project = KEYSTONE_USER
            return {
                "auth": f"{self.keystone}/v3",
                "user": user,
                "key": password,
                "auth_version": "3",
                "os_project_name": project,
                "os_user_domain_id": "default",
                "os_project_domain_id": "default",
                "os_storage_url": self.storage_url,
            }
        return {
            "auth": f"http://127.0.0.1:{self.proxy_port}/auth/v1.0",
            "user": TEMPAUTH[0],
            "key": TEMPAUTH[1],
            "auth_version": "1",
        }

    def own_upload(self, source: Path, name: str) -> None:
        from swiftclient.service import (  # type: ignore[import-untyped]
            SwiftService,
            SwiftUploadObject,
        )

        options = {"segment_size": SEGMENT_MIB * READ_SIZE, "use_slo": False}
        with SwiftService(options=self._options()) as service:
            results = service.upload(
                self.container, [SwiftUploadObject(str(source), object_name=name)], options
            )
            for result in results:
                if not result["success"]:
                    raise SystemExit(f"swift: own upload failed: {result.get('error')}")

    def _connection(self) -> Any:
        import swiftclient

        options = self._options()
        os_options = {
            key.removeprefix("os_"): value
            for key, value in options.items()
            if key.startswith("os_")
        }
        if "storage_url" in os_options:
            os_options["object_storage_url"] = os_options.pop("storage_url")
        return swiftclient.Connection(
            authurl=options["auth"],
            user=options["user"],
            key=options["key"],
            auth_version=options["auth_version"],
            os_options=os_options,
        )

    def own_download(self, name: str) -> int:
        _, body = self._connection().get_object(self.container, name, resp_chunk_size=READ_SIZE)
        return sum(len(chunk) for chunk in body)

    def own_delete(self, name: str) -> None:
        from swiftclient.service import SwiftService

        with SwiftService(options=self._options()) as service:
            for result in service.delete(self.container, [name]):
                if not result["success"]:
                    raise SystemExit(f"swift: own delete failed: {result.get('error')}")


BACKEND = Swift()
