"""``serve_workers``: the app's code is loaded once in the parent and the workers are forked.

Each worker used to be a fresh interpreter importing the CLI and the app again; these
tests run real worker processes on a real socket with a small app that tells who built it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx

from tests.server import free_port

_SERVE = """
import json, os, sys
from spyglass.cli.workers import serve_workers

parent = os.getpid()

def load():
    loaded = {"pid": os.getpid(), "metrics_dir": os.environ.get("PROMETHEUS_MULTIPROC_DIR")}

    def factory():
        built = os.getpid()

        async def app(scope, receive, send):
            body = json.dumps({"parent": parent, "loaded": loaded, "built": built}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})

        return app

    return factory

options = {"lifespan": "off", "log_level": "warning", "access_log": False}
sys.exit(serve_workers(2, "127.0.0.1", int(sys.argv[1]), 16, options, load))
"""


def _answers(url: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    deadline = time.monotonic() + 60
    while len({str(a["built"]) for a in found}) < 2 and time.monotonic() < deadline:
        try:  # a fresh connection each time: the kernel spreads them over both workers
            found.append(httpx.get(url, timeout=5, trust_env=False).json())
        except httpx.HTTPError:
            time.sleep(0.05)
    return found


def test_workers_are_forked_from_the_parent_that_loaded_the_app() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVE, str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        answers = _answers(f"http://127.0.0.1:{port}/")
    finally:
        process.terminate()
        code = process.wait(timeout=30)
    output = process.stdout.read().decode() if process.stdout else ""
    assert code == 0, output
    parents = {json.dumps(a["parent"]) for a in answers}
    assert len(parents) == 1
    parent = json.loads(parents.pop())
    built = {a["built"] for a in answers}
    assert len(built) == 2  # each worker builds its own app
    assert parent not in built
    for answer in answers:
        loaded = answer["loaded"]
        assert isinstance(loaded, dict)
        assert loaded["pid"] == parent  # imported once, before the fork
        assert loaded["metrics_dir"]  # prometheus_client finds the shared directory on import
