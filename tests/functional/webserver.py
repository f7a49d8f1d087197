"""A small HTTP server on loopback that web-download tests fetch from, with
routes that misbehave on purpose."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Content:
    """What the server serves; tests change it between requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.slow_seconds = 0.0
        self.hits: dict[str, int] = {}
        self.trickle: dict[str, float] = {}
        """Path -> seconds between 64 KiB pieces."""


def _handler(content: Content) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            path = self.path
            content.hits[path] = content.hits.get(path, 0) + 1
            if path in content.redirects:
                self.send_response(302)
                self.send_header("Location", content.redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path == "/slow":
                time.sleep(content.slow_seconds)
            if path == "/die":
                self.send_response(200)
                self.send_header("Content-Length", str(1024 * 1024))
                self.end_headers()
                self.wfile.write(b"x" * 1000)
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            data = content.files.get(path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            pause = content.trickle.get(path)
            if pause is None:
                with contextlib.suppress(OSError):  # the client may stop reading early
                    self.wfile.write(data)
                return
            for start in range(0, len(data), 65536):
                try:
                    self.wfile.write(data[start : start + 65536])
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(pause)

    return Handler


@contextmanager
def web_server() -> Iterator[tuple[str, int, Content]]:
    content = Content()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(content))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1], content
    finally:
        server.shutdown()
        server.server_close()
