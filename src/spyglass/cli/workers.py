"""Several API worker processes, each with its own listening socket.

With one shared socket the kernel hands new connections to whichever worker
wakes first, and keep-alive clients then stay where they landed: under load
one worker can end up with nearly all of them. Each worker here binds its own
socket with ``SO_REUSEPORT``, so the kernel spreads connections evenly.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from types import FrameType
from typing import Any


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def _worker(host: str, port: int, backlog: int, options: dict[str, Any]) -> None:
    import uvicorn

    from spyglass.api.asgi import configure_worker_logging

    configure_worker_logging()

    try:
        sock = _listen(host, port, backlog)
    except OSError as exc:
        print(f"spyglass: error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        sys.exit(1)
    config = uvicorn.Config("spyglass.api.asgi:create_app", factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(count: int, host: str, port: int, backlog: int, options: dict[str, Any]) -> int:
    """Run ``count`` workers until one fails or the parent is told to stop; the exit code.

    The workers share one fresh directory for their Prometheus counts (``/metrics``), removed
    when they have all stopped."""
    with tempfile.TemporaryDirectory(prefix="spyglass-metrics-") as metrics_dir:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        return _run_workers(count, host, port, backlog, options)


def _run_workers(count: int, host: str, port: int, backlog: int, options: dict[str, Any]) -> int:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(host, port, backlog, options), name=f"worker-{n}")
        for n in range(count)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.is_alive():
                worker.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.start()
    while all(worker.is_alive() for worker in workers):
        workers[0].join(timeout=0.5)
    crashed = not stopping
    stop(signal.SIGTERM, None)
    drain = options.get("timeout_graceful_shutdown")
    deadline = time.monotonic() + (drain if drain else 3600) + 10  # each drains its transfers
    for worker in workers:
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
    return 1 if crashed else 0
