"""Two small HTTP/1.1 clients with no dependencies, light enough to share two cores.

``Connection`` is an asyncio client for the metadata workloads: it keeps its socket
open for as long as the server allows (keep-alive is attempted with every server;
upstream's uWSGI answers ``Connection: close`` and the next request reconnects).
``upload`` and ``download`` move large bodies over a blocking socket from a thread:
the bytes are sent from one reused buffer and received into one, so the client costs
little next to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024
BLOCK = MIB


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _request_head(
    method: str, host: str, path: str, headers: Mapping[str, str], length: int | None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


class Connection:
    """One keep-alive connection (reopened when the server closes it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.authority = f"{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=4 * MIB
            )
            sock = self._writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connects += 1
        return self._reader, self._writer

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request and read the whole response; retries once on a stale socket."""
        head = _request_head(
            method,
            self.authority,
            path,
            headers or {},
            len(body) if body or method in ("POST", "PUT", "PATCH") else None,
        )
        for attempt in (0, 1):
            fresh = self._writer is None
            reader, writer = await self._open()
            try:
                writer.write(head + body)
                raw = await reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if fresh or attempt:
                    raise
                continue
            status, response_headers = _parse_head(raw[:-4])
            payload = await self._read_body(reader, method, status, response_headers)
            if response_headers.get("connection", "").lower() == "close":
                await self.close()
            return Response(status, response_headers, payload)
        raise AssertionError("unreachable")

    async def _read_body(
        self, reader: asyncio.StreamReader, method: str, status: int, headers: dict[str, str]
    ) -> bytes:
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b""
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return b"".join(parts)
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
        body = await reader.read()
        await self.close()
        return body


# --- big bodies, blocking ---------------------------------------------------------------


def pattern_seed(size: int) -> bytes:
    """The block ``tests.server.pattern_stream`` repeats (so checksums agree with it)."""
    return random.Random(size).randbytes(BLOCK)


def pattern_md5(size: int) -> str:
    import hashlib

    digest = hashlib.md5(usedforsecurity=False)
    buf = bytearray(pattern_seed(size))
    for counter, offset in enumerate(range(0, size, BLOCK)):
        buf[:8] = counter.to_bytes(8, "big")
        digest.update(memoryview(buf)[: min(BLOCK, size - offset)])
    return digest.hexdigest()


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=600)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read_response(sock: socket.socket, sink: bytearray | None) -> tuple[int, int, dict[str, str]]:
    """Read a response; the body goes into ``sink`` repeatedly (discarded). Returns
    (status, body bytes, headers)."""
    stream = io.BufferedReader(socket.SocketIO(sock, "rb"), 256 * 1024)
    try:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = stream.readline(65536)
            if not line:
                raise ConnectionError("server closed the connection before answering")
            head += line
        status, headers = _parse_head(head[:-4])
        buf = sink if sink is not None else bytearray(64 * 1024)
        view = memoryview(buf)
        received = 0
        if status in (204, 304) or 100 <= status < 200:
            pass
        elif "content-length" in headers:
            remaining = int(headers["content-length"])
            while remaining:
                n = stream.readinto(view[: min(len(buf), remaining)])
                if not n:
                    raise ConnectionError("short body")
                remaining -= n
                received += n
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(stream.readline(1024).split(b";", 1)[0], 16)
                if size == 0:
                    stream.readline(1024)
                    break
                remaining = size
                while remaining:
                    n = stream.readinto(view[: min(len(buf), remaining)])
                    if not n:
                        raise ConnectionError("short chunk")
                    remaining -= n
                    received += n
                stream.read(2)
        else:
            while n := stream.readinto(view):
                received += n
        return status, received, headers
    finally:
        stream.close()


def data_path(api: str, image_id: str) -> str:
    """Where an image's bytes go and come from: v2's ``/file``, or v1's image itself."""
    return f"/v1/images/{image_id}" if api == "v1" else f"/v2/images/{image_id}/file"


def upload(
    host: str, port: int, image_id: str, size: int, api: str = "v2", *, chunked: bool = False
) -> float:
    """PUT ``size`` pattern bytes; returns the seconds taken. With ``Content-Length``, or
    with ``chunked`` in 1 MiB chunks of ``Transfer-Encoding: chunked``, as python-glanceclient
    sends a file (the server then does not know the size in advance)."""
    buf = bytearray(pattern_seed(size))
    view = memoryview(buf)
    headers = {"Content-Type": "application/octet-stream"}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    head = _request_head(
        "PUT", f"{host}:{port}", data_path(api, image_id), headers, None if chunked else size
    )
    started = time.perf_counter()
    with _connect(host, port) as sock:
        try:
            sock.sendall(head)
            for counter, offset in enumerate(range(0, size, BLOCK)):
                buf[:8] = counter.to_bytes(8, "big")
                piece = view[: min(BLOCK, size - offset)]
                if chunked:
                    sock.sendall(b"%x\r\n" % len(piece))
                sock.sendall(piece)
                if chunked:
                    sock.sendall(b"\r\n")
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as exc:  # the server answered early (an error) and closed
            try:
                status, _, _ = _read_response(sock, None)
            except OSError:
                raise exc from None
            raise RuntimeError(f"upload of {image_id} answered {status} early") from exc
        status, _, _ = _read_response(sock, None)
    elapsed = time.perf_counter() - started
    if status != (200 if api == "v1" else 204):
        raise RuntimeError(f"upload of {image_id} answered {status}")
    return elapsed


def download(host: str, port: int, image_id: str, size: int, api: str = "v2") -> float:
    """GET the image's data, discarding it; returns the seconds taken."""
    head = _request_head("GET", f"{host}:{port}", data_path(api, image_id), {}, None)
    sink = bytearray(BLOCK)
    started = time.perf_counter()
    with _connect(host, port) as sock:
        sock.sendall(head)
        status, received, _ = _read_response(sock, sink)
    elapsed = time.perf_counter() - started
    if status != 200 or received != size:
        raise RuntimeError(f"download of {image_id}: {status}, {received} of {size} bytes")
    return elapsed
