"""The workloads: image transfers, metadata requests, the machine's own limits, the cache.

Each function measures one server once and returns plain figures; ``bench/run.py``
alternates the servers, repeats the rounds and takes the medians.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suite import http
from suite.load import LoadResult, Request, run_load
from suite.seed import image_id, soft_delete
from suite.servers import RssSampler, Server

MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


# --- small synchronous API calls ------------------------------------------------------


def api(server: Server, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        server.url + path, data=data, method=method, headers=JSON if data else {}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def create_image(server: Server, name: str = "bench") -> str:
    image = api(
        server,
        "POST",
        "/v2/images",
        {"name": name, "disk_format": "raw", "container_format": "bare"},
    )
    return str(image["id"])


def delete_image(server: Server, ident: str) -> None:
    api(server, "DELETE", f"/v2/images/{ident}")


# --- transfers ------------------------------------------------------------------------


@dataclass
class TransferFigures:
    upload_mb_s: float
    download_mb_s: float
    rss_process_mib: float  # the largest single process (a worker)
    rss_total_mib: float  # all the server's processes together
    failed: int  # uploads that failed (their bytes do not count)
    first_error: str


def _try_upload(server: Server, ident: str, size: int, via: str = "v2") -> str:
    """'' on success, else what went wrong."""
    try:
        http.upload(server.host, server.port, ident, size, via)
    except (OSError, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def transfer(
    server: Server, size: int, checksum: str, parallel: int = 1, via: str = "v2"
) -> TransferFigures:
    """``parallel`` images of ``size`` bytes uploaded at once, then downloaded at once.

    MB/s are the aggregate: the bytes of the uploads that succeeded over the wall time of
    the whole batch; only those images are downloaded. ``via="v1"`` moves the bytes
    through Images API v1 (``PUT``/``GET /v1/images/{id}``) instead of v2's ``/file``."""
    idents = [create_image(server, f"bench-transfer-{i}") for i in range(parallel)]
    try:
        with (
            RssSampler(server.pid()) as rss,
            ThreadPoolExecutor(parallel) as pool,
        ):
            started = time.perf_counter()
            errors = list(pool.map(lambda i: _try_upload(server, i, size, via), idents))
            upload_s = time.perf_counter() - started
            uploaded = [i for i, error in zip(idents, errors, strict=True) if not error]
            if not uploaded:
                raise RuntimeError(f"every upload failed; first: {errors[0]}")
            for ident in uploaded:
                shown = api(server, "GET", f"/v2/images/{ident}")
                if shown["checksum"] != checksum or shown["status"] != "active":
                    raise RuntimeError(f"{server.name}: image {ident} is {shown['status']}")
            started = time.perf_counter()
            list(
                pool.map(lambda i: http.download(server.host, server.port, i, size, via), uploaded)
            )
            download_s = time.perf_counter() - started
    finally:
        for ident in idents:
            with contextlib.suppress(OSError):
                delete_image(server, ident)
    total = size * len(uploaded)
    return TransferFigures(
        upload_mb_s=total / upload_s / 1e6,
        download_mb_s=total / download_s / 1e6,
        rss_process_mib=rss.peak_process / MIB,
        rss_total_mib=rss.peak_total / MIB,
        failed=parallel - len(uploaded),
        first_error=next((e for e in errors if e), ""),
    )


# --- metadata -------------------------------------------------------------------------

SHOW_TARGET = 500  # seeded image indexes present in every data set
MARKER = 100  # old: the page after it is ~100 images from the end of the listing
UPDATE_POOL = 1000

LIST_QUERIES = {
    "list first page": "/v2/images",
    "list filtered": "/v2/images?disk_format=qcow2&os_distro=fedora",
    "list sorted": "/v2/images?sort=name:asc",
    "list deep marker": f"/v2/images?marker={image_id(MARKER)}",
}
OPERATIONS = ("show", *LIST_QUERIES, "update", "create", "delete")


@dataclass
class MetadataFigures:
    rps: float
    p50_ms: float
    p99_ms: float
    count: int
    errors: int
    client_cpu_share: float  # of one core, over the run


def _figures(result: LoadResult, server: Server, operation: str) -> MetadataFigures:
    if result.errors:
        print(
            f"  ! {server.name} {operation}: {result.errors} errors; first: {result.first_error}",
            flush=True,
        )
    return MetadataFigures(
        rps=result.rps,
        p50_ms=result.percentile(50) * 1e3,
        p99_ms=result.percentile(99) * 1e3,
        count=result.count,
        errors=result.errors,
        client_cpu_share=result.client_cpu / result.wall if result.wall else 0.0,
    )


class MetadataDriver:
    """Builds each operation's requests for one server; remembers the images it created
    so that ``delete`` removes those (ids run out: the delete run stops early)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.created: list[str] = []
        self.deleting: list[str] = []
        self.deleted: set[str] = set()
        self.serial = 0

    def _maker(self, operation: str) -> tuple[Callable[[int], Request | None], tuple[int, ...]]:
        if operation == "show":
            path = f"/v2/images/{image_id(SHOW_TARGET)}"
            return (lambda _i: ("GET", path, b"", {})), (200,)
        if operation in LIST_QUERIES:
            query = LIST_QUERIES[operation]
            return (lambda _i: ("GET", query, b"", {})), (200,)
        if operation == "update":
            base = self.serial

            def update(i: int) -> Request:
                body = [{"op": "add", "path": "/bench_note", "value": f"v{base + i}"}]
                ident = image_id(i % UPDATE_POOL)
                return "PATCH", f"/v2/images/{ident}", json.dumps(body).encode(), PATCH

            return update, (200,)
        if operation == "create":
            base = self.serial

            def create(i: int) -> Request:
                body = {
                    "name": f"bench-{base + i}",
                    "disk_format": "qcow2",
                    "container_format": "bare",
                    "tags": ["bench"],
                    "os_distro": "cirros",
                }
                return "POST", "/v2/images", json.dumps(body).encode(), JSON

            return create, (201,)
        if operation == "delete":
            victims = self.deleting = self.created
            self.created = []

            def delete(i: int) -> Request | None:
                if i >= len(victims):
                    return None
                return "DELETE", f"/v2/images/{victims[i]}", b"", {}

            return delete, (204,)
        raise ValueError(operation)

    def run(
        self, operation: str, concurrency: int, duration: float, *, warmup: float = 0.0
    ) -> MetadataFigures:
        make, expect = self._maker(operation)
        on_response: Callable[[int, http.Response], None] | None = None
        if operation == "create":

            def on_response(_i: int, response: http.Response) -> None:
                self.created.append(str(response.json()["id"]))

        elif operation == "delete":

            def on_response(i: int, _response: http.Response) -> None:
                self.deleted.add(self.deleting[i])

        if warmup and operation not in ("create", "delete"):
            run_load(
                self.server.host,
                self.server.port,
                concurrency,
                make,
                expect=expect,
                duration=warmup,
            )
        result = run_load(
            self.server.host,
            self.server.port,
            concurrency,
            make,
            expect=expect,
            duration=duration,
            on_response=on_response,
        )
        if operation == "delete":
            # What the run did not get to goes directly, so the data set keeps its size.
            soft_delete(self.server.db_path, [i for i in self.deleting if i not in self.deleted])
            self.deleting, self.deleted = [], set()
        self.serial += result.count + 1_000_000
        return _figures(result, self.server, operation)


def warm_up(server: Server, seconds: float = 1.0) -> None:
    """A short mixed load after a (re)start: imports, pools and caches settle."""
    driver = MetadataDriver(server)
    for operation in ("show", "list first page", "update"):
        driver.run(operation, 4, seconds / 3)


# --- the machine's limits -------------------------------------------------------------


@dataclass
class Limits:
    md5_mb_s: float
    sha512_mb_s: float
    hash_mb_s: float  # md5 then sha512 over the same bytes, one core
    copy_mb_s: float  # read + write of a file in 1 MiB pieces (page cache)
    loopback_mb_s: float  # TCP over 127.0.0.1, 1 MiB sends and receives


def _pattern_blocks(size: int) -> Callable[[], Any]:
    buf = bytearray(http.pattern_seed(size))
    view = memoryview(buf)

    def blocks() -> Any:
        for counter, offset in enumerate(range(0, size, MIB)):
            buf[:8] = counter.to_bytes(8, "big")
            yield view[: min(MIB, size - offset)]

    return blocks


def measure_limits(size: int, work: Path, repeat: int = 3) -> Limits:
    """What the machine allows: the best of ``repeat`` tries of each."""
    tries = [_limits_once(size, work) for _ in range(repeat)]
    return Limits(*(max(getattr(t, name) for t in tries) for name in Limits.__dataclass_fields__))


def _limits_once(size: int, work: Path) -> Limits:
    blocks = _pattern_blocks(size)
    timings = {}
    for name in ("md5", "sha512"):
        digest = hashlib.new(name, usedforsecurity=False)
        started = time.perf_counter()
        for block in blocks():
            digest.update(block)
        timings[name] = time.perf_counter() - started

    source, target = work / "limits-source.bin", work / "limits-copy.bin"
    with source.open("wb") as out:
        for block in blocks():
            out.write(block)
    try:
        buffer = bytearray(MIB)
        view = memoryview(buffer)
        started = time.perf_counter()
        with source.open("rb", buffering=0) as src, target.open("wb", buffering=0) as dst:
            while n := src.readinto(buffer):
                dst.write(view[:n])
        copy_s = time.perf_counter() - started
    finally:
        source.unlink(missing_ok=True)
        target.unlink(missing_ok=True)

    loopback_s = _loopback(size)
    return Limits(
        md5_mb_s=size / timings["md5"] / 1e6,
        sha512_mb_s=size / timings["sha512"] / 1e6,
        hash_mb_s=size / (timings["md5"] + timings["sha512"]) / 1e6,
        copy_mb_s=size / copy_s / 1e6,
        loopback_mb_s=size / loopback_s / 1e6,
    )


def _loopback(size: int) -> float:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def send() -> None:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                block = os.urandom(MIB)
                for offset in range(0, size, MIB):
                    sock.sendall(memoryview(block)[: min(MIB, size - offset)])

        sender = threading.Thread(target=send)
        started = time.perf_counter()
        sender.start()
        connection, _ = listener.accept()
        buffer = bytearray(MIB)
        received = 0
        with connection:
            while n := connection.recv_into(buffer):
                received += n
        elapsed = time.perf_counter() - started
        sender.join()
    if received != size:
        raise RuntimeError("loopback: short transfer")
    return elapsed


# --- the image cache --------------------------------------------------------------------


def has_cache(server: Server) -> bool:
    """Whether the server answers the cache API (``GET /v2/cache``)."""
    try:
        api(server, "GET", "/v2/cache")
    except OSError:
        return False
    return True


def wait_cached(server: Server, ident: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = api(server, "GET", "/v2/cache")
        if ident in {entry["image_id"] for entry in listing.get("cached_images", [])}:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name}: image {ident} never appeared in the cache")


@dataclass
class CacheFigures:
    miss_mb_s: float
    hit_mb_s: float


def cache_miss_and_hit(server: Server, size: int, checksum: str) -> CacheFigures:
    """MB/s of the first download (a miss, which fills the cache) and of the next (a hit)."""
    ident = create_image(server, "bench-cache")
    try:
        http.upload(server.host, server.port, ident, size)
        if api(server, "GET", f"/v2/images/{ident}")["checksum"] != checksum:
            raise RuntimeError(f"{server.name}: upload of {ident} has the wrong checksum")
        miss_s = http.download(server.host, server.port, ident, size)
        wait_cached(server, ident)
        hit_s = http.download(server.host, server.port, ident, size)
    finally:
        delete_image(server, ident)
    return CacheFigures(miss_mb_s=size / miss_s / 1e6, hit_mb_s=size / hit_s / 1e6)


def uncached_download(server: Server, size: int) -> float:
    """MB/s of one download from a server without a cache."""
    ident = create_image(server, "bench-uncached")
    try:
        http.upload(server.host, server.port, ident, size)
        return size / http.download(server.host, server.port, ident, size) / 1e6
    finally:
        delete_image(server, ident)


def cached_parallel(server: Server, size: int, parallel: int) -> float:
    """Aggregate MB/s of ``parallel`` concurrent downloads of one cached image."""
    ident = create_image(server, "bench-cache-parallel")
    try:
        http.upload(server.host, server.port, ident, size)
        http.download(server.host, server.port, ident, size)
        wait_cached(server, ident)
        with ThreadPoolExecutor(parallel) as pool:
            started = time.perf_counter()
            list(pool.map(lambda _: http.download(server.host, server.port, ident, size),
                          range(parallel)))  # fmt: skip
            elapsed = time.perf_counter() - started
    finally:
        delete_image(server, ident)
    return size * parallel / elapsed / 1e6


def file_to_socket(size: int, work: Path, *, zero_copy: bool, block: int = MIB) -> float:
    """MB/s of a file (in the page cache) sent over loopback: ``block``-sized reads and
    sends, or ``sendfile`` (zero-copy); the receiver discards what it gets."""
    source = work / "limits-send.bin"
    with source.open("wb") as out:
        for piece in _pattern_blocks(size)():
            out.write(piece)
    try:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            port = listener.getsockname()[1]
            received = 0

            def receive() -> None:
                nonlocal received
                connection, _ = listener.accept()
                buffer = bytearray(MIB)
                with connection:
                    while n := connection.recv_into(buffer):
                        received += n

            receiver = threading.Thread(target=receive)
            receiver.start()
            with (
                source.open("rb", buffering=0) as src,
                socket.create_connection(("127.0.0.1", port)) as sock,
            ):
                started = time.perf_counter()
                if zero_copy:
                    offset = 0
                    while offset < size:
                        offset += os.sendfile(sock.fileno(), src.fileno(), offset, size - offset)
                else:
                    buffer = bytearray(block)
                    view = memoryview(buffer)
                    while n := src.readinto(buffer):
                        sock.sendall(view[:n])
                sock.shutdown(socket.SHUT_WR)
                receiver.join()
                elapsed = time.perf_counter() - started
    finally:
        source.unlink(missing_ok=True)
    if received != size:
        raise RuntimeError("file to socket: short transfer")
    return size / elapsed / 1e6
