"""``/healthcheck``: oslo.middleware's probe, as load balancers and upstream's deployments use it.

The answers are oslo's: ``GET`` 200 ``OK`` (or JSON ``{"reasons": [...], "detailed": false}``
when asked for), ``HEAD`` 204, and 503 with the reasons when something is wrong. The backends
named in ``[healthcheck] backends`` (``disable_by_file``, ``disable_by_files_ports``,
``enable_by_files``) work as oslo's do, so an operator can drain a node by touching a file.

Spyglass also checks what it cannot serve without, whatever ``backends`` says: the database (or
the registry), answered within a couple of seconds. Stores are reported, not judged: a store
that cannot be written still serves reads, and other nodes share it, so taking every node out of
the balancer for it would turn a partial outage into a full one.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from spyglass.config.settings import Settings
from spyglass.db.engine import Database
from spyglass.stores.registry import StoreSet

CHECK_TIMEOUT = 2.0

Check = Callable[[], Awaitable["Result"]]


@dataclass(frozen=True, slots=True)
class Result:
    available: bool
    reason: str


def database_check(database: Database) -> Check:
    async def check() -> Result:
        try:
            with anyio.fail_after(CHECK_TIMEOUT):
                await database.run(lambda session: session.execute(text("SELECT 1")))
        except TimeoutError:
            return Result(False, f"database: no answer within {CHECK_TIMEOUT:g} s")
        except Exception as exc:  # any driver error means the same to a balancer
            return Result(False, f"database: unreachable ({type(exc).__name__})")
        return Result(True, "database: OK")

    return check


def probe_check(name: str, probe: Callable[[], Awaitable[str | None]]) -> Check:
    """A dependency with its own probe (the registry), which says why it cannot be used."""

    async def check() -> Result:
        with anyio.move_on_after(CHECK_TIMEOUT) as scope:
            reason = await probe()
        if scope.cancelled_caught:
            return Result(False, f"{name}: no answer within {CHECK_TIMEOUT:g} s")
        return Result(reason is None, f"{name}: {reason or 'OK'}")

    return check


def stores_check(stores: StoreSet) -> Check:
    async def check() -> Result:
        states = [
            f"{backend_id} read-only ({stores.read_only[backend_id]})"
            if backend_id in stores.read_only
            else f"{backend_id} OK"
            for backend_id in stores.stores
        ]
        return Result(True, "stores: " + ", ".join(states))

    return check


def _listed(settings: Settings, name: str) -> list[str]:
    value = settings.option("healthcheck", name)
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


def file_checks(settings: Settings, port: int) -> list[Result]:
    """The oslo backends that look at files."""
    results = []
    backends = _listed(settings, "backends")
    if "disable_by_file" in backends:
        path = settings.option("healthcheck", "disable_by_file_path")
        if path and os.path.exists(str(path)):
            results.append(Result(False, "DISABLED BY FILE"))
    if "disable_by_files_ports" in backends:
        for entry in _listed(settings, "disable_by_file_paths"):
            entry_port, _, path = entry.partition(":")
            if entry_port.strip() == str(port) and os.path.exists(path.strip()):
                results.append(Result(False, "DISABLED BY FILE"))
    if "enable_by_files" in backends:
        missing = [p for p in _listed(settings, "enable_by_file_paths") if not os.path.exists(p)]
        results.extend(Result(False, f"FILE PATH MISSING {path}") for path in missing)
    return results


class Healthcheck:
    def __init__(self, settings: Settings, checks: Sequence[Check]) -> None:
        self.settings = settings
        self.checks = list(checks)
        ranges = _listed(settings, "allowed_source_ranges")
        self.source_ranges = [ipaddress.ip_network(r) for r in ranges]
        self.ignore_proxied = bool(settings.option("healthcheck", "ignore_proxied_requests"))
        self.detailed = bool(settings.option("healthcheck", "detailed"))

    def _answers(self, request: Request) -> bool:
        """oslo ignores requests from outside ``allowed_source_ranges`` and, if asked,
        proxied ones: the path then behaves as if the probe were not there."""
        if self.source_ranges:
            client = request.client.host if request.client else None
            try:
                address = ipaddress.ip_address(client or "")
            except ValueError:
                return False
            if not any(address in network for network in self.source_ranges):
                return False
        proxied = any(h.startswith("x-forwarded") for h in request.headers)
        return not (self.ignore_proxied and proxied)

    async def results(self, port: int) -> list[Result]:
        found: list[Result] = file_checks(self.settings, port)
        checked: list[Result | None] = [None] * len(self.checks)

        async def run(index: int, check: Check) -> None:
            checked[index] = await check()

        async with anyio.create_task_group() as tasks:
            for index, check in enumerate(self.checks):
                tasks.start_soon(run, index, check)
        return found + [r for r in checked if r is not None]

    async def answer(self, request: Request) -> Response:
        if not self._answers(request):
            return PlainTextResponse("Not Found", status_code=404)
        port = request.url.port or 0
        results = await self.results(port)
        healthy = all(r.available for r in results)
        if request.method == "HEAD":
            return Response(status_code=204 if healthy else 503, media_type="text/plain")
        status = 200 if healthy else 503
        shown = [r.reason for r in results if self.detailed or not r.available] or ["OK"]
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"reasons": shown, "detailed": self.detailed}, status_code=status)
        return PlainTextResponse("\n".join(shown), status_code=status)
