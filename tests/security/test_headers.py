"""Request heads are bounded in size and in time, over a raw socket."""

from __future__ import annotations

import contextlib
import socket
import time
from urllib.parse import urlsplit

from tests.security.conftest import ALICE, StartServer
from tests.server import LiveServer, RssSampler


def _connect(server: LiveServer) -> socket.socket:
    url = urlsplit(server.url)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10)
    return sock


def _head(path: str = "/v2/images", extra: bytes = b"") -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: spyglass", *(f"{k}: {v}" for k, v in ALICE.items())]
    return ("\r\n".join(lines) + "\r\n").encode() + extra


def _send_all(sock: socket.socket, data: bytes) -> None:
    """Send what the server takes; it may close the connection half way."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not piece:
            return received
        received += piece


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_header_line_over_16_kib_is_refused(secure_server: StartServer) -> None:
    server = secure_server()
    with _connect(server) as sock:
        _send_all(sock, _head(extra=b"X-Big: " + b"a" * 17 * 1024 + b"\r\n\r\n"))
        answer = _answer(sock)  # and the connection is closed
    assert _status(answer) in (400, 431), answer[:200]
    with _connect(server) as sock:  # a line just under the bound is served
        _send_all(
            sock, _head(extra=b"X-Big: " + b"a" * 15 * 1024 + b"\r\nConnection: close\r\n\r\n")
        )
        assert _status(_answer(sock)) == 200


def test_too_many_header_bytes_are_refused(secure_server: StartServer) -> None:
    server = secure_server()
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(100))
    with _connect(server) as sock:
        _send_all(sock, _head(extra=many + b"\r\n"))
        assert _status(_answer(sock)) in (400, 431)


def test_a_long_request_line_is_refused(secure_server: StartServer) -> None:
    server = secure_server()
    with _connect(server) as sock:
        _send_all(sock, _head(path="/v2/images?name=" + "a" * 17 * 1024, extra=b"\r\n"))
        assert _status(_answer(sock)) in (400, 414, 431)


def test_a_huge_header_line_does_not_grow_the_server(secure_server: StartServer) -> None:
    server = secure_server()
    with RssSampler(server.pid) as rss, _connect(server) as sock:
        before = rss.peak
        block = b"a" * (1024 * 1024)
        sock.sendall(_head(extra=b"X-Big: "))
        started = time.monotonic()
        try:
            for _ in range(16):
                sock.sendall(block)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _answer(sock)
        assert time.monotonic() - started < 10
    assert not answer or _status(answer) in (400, 431)
    assert rss.peak - before < 8 * 1024 * 1024


def test_a_client_that_stalls_in_its_headers_is_disconnected(secure_server: StartServer) -> None:
    server = secure_server("client_socket_timeout = 1")
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /v2/images HTTP/1.1\r\nHost: spyglass\r\n")
        for _ in range(4):  # trickling bytes does not keep the connection open
            time.sleep(0.4)
            _send_all(sock, b"X")
        _answer(sock)
        assert time.monotonic() - started < 4
    with _connect(server) as sock:  # nor does sending nothing at all
        started = time.monotonic()
        _answer(sock)
        assert time.monotonic() - started < 4


def test_a_client_that_stalls_in_its_body_is_disconnected(secure_server: StartServer) -> None:
    server = secure_server("client_socket_timeout = 1")
    head = _head(
        path="/v2/images", extra=b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(head.replace(b"GET", b"POST", 1) + b'{"name": ')
        _answer(sock)
        assert time.monotonic() - started < 4
