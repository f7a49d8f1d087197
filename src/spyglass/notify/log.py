"""``log`` (classic ``logging``): one JSON line per event, at the event's priority.

The logger is ``spyglass.notification.<event_type>``, so operators can route
or silence events by type with ``default_log_levels`` or a logging config. The
line carries the id of the request that caused the event, not the publisher's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from spyglass.notify.base import NotifyConfig
from spyglass.notify.envelope import Message, message_dict

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING}
_LEVELS |= {"WARNING": logging.WARNING, "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}


class LogNotifier:
    def __init__(self, config: NotifyConfig) -> None:
        self.config = config

    async def connect(self) -> None:
        return None

    async def send(self, messages: Sequence[Message]) -> None:
        for message in messages:
            event = message.event
            logger = logging.getLogger(f"spyglass.notification.{event.event_type}")
            level = _LEVELS.get(event.priority.upper(), logging.INFO)
            body = message_dict(message)
            body.pop("_unique_id", None)
            logger.log(
                level,
                "%s",
                json.dumps(body, sort_keys=True),
                extra={"request_id": message.request_id or "-"},
            )

    async def close(self) -> None:
        return None
