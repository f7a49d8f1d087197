"""Several API worker processes, each with its own listening socket.

With one shared socket the kernel hands new connections to whichever worker
wakes first, and keep-alive clients then stay where they landed: under load
one worker can end up with nearly all of them. Each worker here binds its own
socket with ``SO_REUSEPORT``, so the kernel spreads connections evenly.

The parent imports the app's code once and the workers are forked from it, so
they start with every module already loaded (shared, copy-on-write) instead of
each starting an interpreter and importing the CLI and the app again: that was
most of the seconds between ``spyglass api --workers N`` and its first answer.
Each worker still builds its own app (its own database engine and stores).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}

AppFactory = Callable[[], Any]
"""Builds one worker's ASGI app (called in the worker, after the fork)."""


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def _worker(host: str, port: int, backlog: int, options: dict[str, Any], app: AppFactory) -> None:
    import uvicorn

    # the parent's handlers came with the fork (signals held back since): uvicorn installs
    # its own when it runs, and until then a stop signal ends the worker
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    try:
        sock = _listen(host, port, backlog)
    except OSError as exc:
        print(f"spyglass: error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        sys.exit(1)
    config = uvicorn.Config(app, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(
    count: int,
    host: str,
    port: int,
    backlog: int,
    options: dict[str, Any],
    load: Callable[[], AppFactory],
) -> int:
    """Run ``count`` workers until one fails or the parent is told to stop; the exit code.

    ``load`` imports the app's code in the parent and returns what builds a worker's app.
    It runs once the workers' shared directory for their Prometheus counts (``/metrics``)
    is set, since ``prometheus_client`` reads it when imported; the directory is removed
    when they have all stopped."""
    with tempfile.TemporaryDirectory(prefix="spyglass-metrics-") as metrics_dir:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        app = load()
        gc.freeze()  # what the parent made stays shared: the workers' collections skip it
        return _run_workers(count, host, port, backlog, options, app)


def _run_workers(
    count: int, host: str, port: int, backlog: int, options: dict[str, Any], app: AppFactory
) -> int:
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(
            target=_worker, args=(host, port, backlog, options, app), name=f"worker-{n}"
        )
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
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # until every worker is forked
    try:
        for worker in workers:
            worker.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
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
