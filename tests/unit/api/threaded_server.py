"""A real uvicorn server in a thread of the test process, on a given protocol class: for
tests of Spyglass's protocol over real sockets."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


@contextlib.contextmanager
def serving(app: Any, protocol: type, **config: Any) -> Iterator[tuple[str, threading.Thread]]:
    """``app`` served on a free loopback port until the block ends; its URL and thread."""
    sock = socket.create_server(("127.0.0.1", 0))
    options: dict[str, Any] = {"http": functools.partial(protocol, max_header_line=16384)}
    server = uvicorn.Server(
        uvicorn.Config(app, loop="uvloop", log_level="warning", lifespan="off", **options, **config)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", thread
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
