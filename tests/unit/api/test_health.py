"""The health checks of the database and the registry: failures and slowness become reasons."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from spyglass.api import health
from spyglass.api.health import Result, database_check, probe_check


class _Database:
    def __init__(self, behaviour: Callable[[], Any]) -> None:
        self.behaviour = behaviour

    async def run(self, work: Any, *, write: bool = False) -> Any:
        return await self.behaviour()


async def _fails() -> None:
    raise ConnectionRefusedError("down")


async def _hangs() -> None:
    await asyncio.sleep(60)


async def _answers() -> None:
    return None


@pytest.fixture(autouse=True)
def _short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT", 0.2)


async def test_a_database_that_answers_is_healthy() -> None:
    assert await database_check(_Database(_answers))() == Result(True, "database: OK")  # type: ignore[arg-type]


async def test_a_database_that_fails_is_unhealthy_with_a_reason() -> None:
    result = await database_check(_Database(_fails))()  # type: ignore[arg-type]
    assert result == Result(False, "database: unreachable (ConnectionRefusedError)")


async def test_a_database_that_hangs_is_unhealthy_within_the_timeout() -> None:
    result = await asyncio.wait_for(database_check(_Database(_hangs))(), 5)  # type: ignore[arg-type]
    assert not result.available
    assert "no answer" in result.reason


async def test_the_registry_probe_reason_is_reported() -> None:
    async def down() -> str | None:
        return "ConnectError"

    async def slow() -> str | None:
        await asyncio.sleep(60)
        return None

    assert await probe_check("registry", down)() == Result(False, "registry: ConnectError")
    assert (await probe_check("registry", slow)()).available is False
