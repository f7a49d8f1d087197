"""``noop``: no notifications (upstream's default). Nothing is even recorded."""

from __future__ import annotations

from collections.abc import Sequence

from spyglass.notify.base import NotifyConfig
from spyglass.notify.envelope import Message


class NoopNotifier:
    def __init__(self, config: NotifyConfig) -> None:
        self.config = config

    async def connect(self) -> None:
        return None

    async def send(self, messages: Sequence[Message]) -> None:
        return None

    async def close(self) -> None:
        return None
