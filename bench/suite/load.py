"""A closed-loop load generator: N connections, each sending its next request as soon as
the previous answer arrived, for a bounded time and request count."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from suite.http import Connection, Response

REQUEST_TIMEOUT = 60.0  # one answer
RUN_GRACE = 90.0  # the requests in flight when the time is up

# (method, path, body, headers)
Request = tuple[str, str, bytes, dict[str, str]]
RequestMaker = Callable[[int], Request | None]
ResponseHook = Callable[[int, Response], None]


@dataclass
class LoadResult:
    """Latencies of the answers that had an expected status; the others are errors."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    first_error: str = ""
    connects: int = 0
    client_cpu: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.count / self.wall if self.wall > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Seconds; nearest-rank percentile."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]


async def _run(
    host: str,
    port: int,
    concurrency: int,
    make: RequestMaker,
    expect: Sequence[int],
    duration: float,
    max_requests: int,
    on_response: ResponseHook | None,
) -> LoadResult:
    result = LoadResult()
    counter = 0
    deadline = 0.0

    async def worker() -> None:
        nonlocal counter
        connection = Connection(host, port)
        try:
            while counter < max_requests and time.perf_counter() < deadline:
                index = counter
                counter += 1
                request = make(index)
                if request is None:
                    counter = max_requests
                    return
                method, path, body, headers = request
                started = time.perf_counter()
                try:
                    response = await asyncio.wait_for(
                        connection.request(method, path, body, headers), REQUEST_TIMEOUT
                    )
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    result.errors += 1
                    result.first_error = result.first_error or f"{method} {path}: {exc!r}"
                    await connection.close()
                    continue
                elapsed = time.perf_counter() - started
                if response.status in expect:
                    result.latencies.append(elapsed)
                    if on_response is not None:
                        on_response(index, response)
                else:
                    result.errors += 1
                    result.first_error = result.first_error or (
                        f"{method} {path}: {response.status} {response.body[:200]!r}"
                    )
        finally:
            result.connects += connection.connects
            await connection.close()

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    deadline = started + duration
    try:
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(concurrency))), duration + RUN_GRACE
        )
    except TimeoutError:
        result.errors += 1
        result.first_error = result.first_error or f"run still busy {RUN_GRACE:.0f} s after its end"
    result.wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return result


def run_load(
    host: str,
    port: int,
    concurrency: int,
    make: RequestMaker,
    *,
    expect: Sequence[int] = (200,),
    duration: float = 3.0,
    max_requests: int = 1_000_000,
    on_response: ResponseHook | None = None,
) -> LoadResult:
    """Run the load on a fresh event loop (uvloop when available)."""
    try:
        import uvloop

        runner: Callable[..., LoadResult] = uvloop.run
    except ImportError:  # pragma: no cover - the venv has uvloop (uvicorn[standard])
        runner = asyncio.run
    return runner(_run(host, port, concurrency, make, expect, duration, max_requests, on_response))
