"""The mixed load: N clients, each in a loop of create, upload, download (checked against
the checksum it uploaded), list, patch and delete. Driven by ``bench/load.py`` (full form)
and ``tests/load/test_mixed_load.py`` (short form in CI).

Why our own driver rather than locust: the check that matters is end to end (every
download compared with what that client uploaded), which is a few lines here and a
plugin there, and one asyncio process on a 2-core machine takes less from the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

OCTETS = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@dataclass
class LoadReport:
    operations: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    retried: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    wall: float = 0.0

    def record(self, name: str, seconds: float) -> None:
        self.operations[name] += 1
        self.latencies.setdefault(name, []).append(seconds)

    def percentile(self, name: str, p: float) -> float:
        ordered = sorted(self.latencies.get(name, []))
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "wall_s": round(self.wall, 1),
            "operations": dict(self.operations),
            "ops_per_s": round(sum(self.operations.values()) / max(self.wall, 1e-9), 1),
            "p50_ms": {k: round(self.percentile(k, 50) * 1000, 1) for k in self.latencies},
            "p99_ms": {k: round(self.percentile(k, 99) * 1000, 1) for k in self.latencies},
            "mib_up": round(self.bytes_up / 2**20, 1),
            "mib_down": round(self.bytes_down / 2**20, 1),
            "errors": len(self.errors),
            "mismatches": len(self.mismatches),
            "retried": self.retried,
        }


class Failed(Exception):
    """An answer that was not the one expected."""


@dataclass
class Client:
    """One simulated user: its own connection pool and its own images."""

    http: httpx.AsyncClient
    report: LoadReport
    rng: random.Random
    sizes: tuple[int, int]
    retry_for: float = 0.0
    """Seconds a request is retried on connection errors and 502/503 (for runs that kill
    a server behind a balancer); 0 means any of them is an error."""

    async def call(
        self,
        name: str,
        method: str,
        url: str,
        expect: int,
        *,
        also_after_retry: tuple[int, ...] = (),
        wait_out: tuple[int, ...] = (),
        settled: Callable[[], Awaitable[bool]] | None = None,
        **kw: object,
    ) -> httpx.Response:
        """One request; with ``retry_for``, retried until it is answered. An answer in
        ``also_after_retry`` counts as success on a retry, ours or the balancer's (a DELETE
        whose first answer was lost is a 404 the second time); one in ``wait_out`` is
        retried too (an upload whose first attempt died with its server is a 409 until that
        image is recovered), unless ``settled`` says the first attempt did finish (its answer
        was what was lost; the checks that follow the call still compare the data)."""
        give_up = time.monotonic() + self.retry_for
        retried = False
        while True:
            started = time.perf_counter()
            try:
                answer = await self.http.request(method, url, **kw)  # type: ignore[arg-type]
                status = answer.status_code
            except httpx.TransportError as exc:
                answer, status = None, 0
                reason = exc.__class__.__name__
            # a balancer that retries (HAProxy's retry-on) may have re-sent the first attempt
            retried_somewhere = retried or self.retry_for > 0
            if answer is not None and (
                status == expect or (retried_somewhere and status in also_after_retry)
            ):
                self.report.record(name, time.perf_counter() - started)
                return answer
            if answer is not None:
                reason = f"{status} {answer.text[:200]}"
                if retried_somewhere and status in wait_out and settled and await settled():
                    self.report.record(name, time.perf_counter() - started)
                    return answer
            retryable = status in (0, 502, 503, *wait_out)
            if not retryable or time.monotonic() > give_up:
                raise Failed(f"{name}: {reason}")
            self.report.retried += 1
            retried = True
            await asyncio.sleep(0.5)

    async def round(self) -> None:
        """One image's life, with every answer checked."""
        size = self.rng.randint(*self.sizes)
        data = self.rng.randbytes(size)
        created = await self.call(
            "create", "POST", "/v2/images", 201,
            json={"name": f"load-{self.rng.random()}", "disk_format": "raw",
                  "container_format": "bare"},
        )  # fmt: skip
        image_id = created.json()["id"]

        async def uploaded() -> bool:
            try:
                shown = await self.http.get(f"/v2/images/{image_id}")
            except httpx.TransportError:
                return False
            return shown.status_code == 200 and shown.json()["status"] == "active"

        await self.call("upload", "PUT", f"/v2/images/{image_id}/file", 204,
                        content=data, headers=OCTETS, settled=uploaded,
                        wait_out=(409,) if self.retry_for else ())  # fmt: skip
        self.report.bytes_up += size
        expected = hashlib.md5(data).hexdigest()
        for _ in range(2):
            got = await self.call("download", "GET", f"/v2/images/{image_id}/file", 200)
            self.report.bytes_down += len(got.content)
            if hashlib.md5(got.content).hexdigest() != expected:
                self.report.mismatches.append(f"{image_id}: downloaded data differs")
        shown = (await self.call("show", "GET", f"/v2/images/{image_id}", 200)).json()
        if shown["checksum"] != expected or shown["size"] != size:
            self.report.mismatches.append(f"{image_id}: checksum or size differs")
        await self.call("list", "GET", "/v2/images?limit=20", 200)
        patched = await self.call(
            "patch", "PATCH", f"/v2/images/{image_id}", 200,
            json=[{"op": "add", "path": "/load_round", "value": str(size)}], headers=PATCH,
        )  # fmt: skip
        if patched.json().get("load_round") != str(size):
            self.report.mismatches.append(f"{image_id}: the patch did not stick")
        if self.rng.random() < 0.7:  # the rest stay, so listings grow
            await self.call(
                "delete", "DELETE", f"/v2/images/{image_id}", 204, also_after_retry=(404,)
            )
            await self.call("deleted", "GET", f"/v2/images/{image_id}", 404)


async def run_load(
    url: str,
    *,
    clients: int = 50,
    duration: float = 120.0,
    sizes: tuple[int, int] = (1024, 512 * 1024),
    headers: dict[str, str] | None = None,
    retry_for: float = 0.0,
    seed: int = 15,
    on_tick: Callable[[float], None] | None = None,
) -> LoadReport:
    """Drive ``clients`` loops for ``duration`` seconds; each finishes its round."""
    report = LoadReport()
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2)

    async def one(index: int) -> None:
        async with httpx.AsyncClient(
            base_url=url, timeout=60, limits=limits, headers=headers, trust_env=False
        ) as http:
            client = Client(http, report, random.Random(seed * 1000 + index), sizes, retry_for)
            while time.monotonic() < deadline:
                try:
                    await client.round()
                except Failed as exc:
                    report.errors.append(str(exc))

    async def ticker() -> None:
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            if on_tick is not None:
                on_tick(deadline - time.monotonic())

    started = time.monotonic()
    tick = asyncio.create_task(ticker())
    await asyncio.gather(*(one(i) for i in range(clients)))
    tick.cancel()
    report.wall = time.monotonic() - started
    return report


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
