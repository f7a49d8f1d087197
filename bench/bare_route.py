"""The framework's ceiling: a bare Starlette route on Spyglass's server settings.

    python bench/bare_route.py HOST PORT WORKERS BODY_FILE

Uvicorn with httptools and uvloop, no access log, ``WORKERS`` processes each binding its
own ``SO_REUSEPORT`` socket (as ``spyglass api --workers N`` does), answering
``GET /v2/images/{id}`` with a fixed JSON body: the bytes Spyglass answered for the same
request, so both send the same amount. Whatever Spyglass spends beyond this is its own.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(os.environ.get("BARE_BODY", "/dev/null")).read_bytes()


async def image(_request: Request) -> Response:
    return Response(BODY, media_type="application/json")


async def versions(_request: Request) -> Response:
    return Response(b'{"versions": []}', media_type="application/json")


app = Starlette(routes=[Route("/v2/images/{image_id}", image), Route("/versions", versions)])


def _worker(host: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    config = uvicorn.Config(
        "bare_route:app", http="httptools", loop="uvloop", access_log=False, log_level="warning"
    )
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    host, port, workers, body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    os.environ["BARE_BODY"] = body
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, args=(host, port)) for _ in range(workers)]

    def stop(_signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            process.terminate()

    signal.signal(signal.SIGTERM, stop)
    for process in processes:
        process.start()
    for process in processes:
        process.join()


if __name__ == "__main__":
    main()
