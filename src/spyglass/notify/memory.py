"""``memory``: keeps what it is sent, for tests; ``down`` makes it refuse like a dead broker."""

from __future__ import annotations

from collections.abc import Sequence

from spyglass.notify.base import NotifierUnavailable, NotifyConfig
from spyglass.notify.envelope import Message


class MemoryNotifier:
    def __init__(self, config: NotifyConfig | None = None) -> None:
        self.config = config
        self.sent: list[Message] = []
        self.down = False

    async def connect(self) -> None:
        if self.down:
            raise NotifierUnavailable("memory notifier is down")

    async def send(self, messages: Sequence[Message]) -> None:
        await self.connect()
        self.sent.extend(messages)

    async def close(self) -> None:
        return None
