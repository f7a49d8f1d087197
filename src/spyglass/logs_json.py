"""``use_json = true``: one JSON object per log line, shaped as oslo.log's ``JSONFormatter``.

Log shippers (fluentd, Logstash, journald forwarders) already parse OpenStack services'
JSON lines, so the keys are oslo.log's: the request sits in ``context.request_id``, a
traceback is a list of lines. Only what Spyglass knows is filled in; oslo.log's keys about
other projects' contexts (instances, resources) are left out rather than sent empty.
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
from typing import Any

__all__ = ["JsonFormatter"]


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON (``RequestIdFilter`` has given it its request id)."""

    def __init__(self, datefmt: str | None = None) -> None:
        super().__init__(datefmt=datefmt)
        self.hostname = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "-")
        document: dict[str, Any] = {
            "message": record.getMessage(),
            "asctime": self.formatTime(record, self.datefmt),
            "name": record.name,
            "levelname": record.levelname,
            "levelno": record.levelno,
            "created": record.created,
            "msecs": record.msecs,
            "process": record.process,
            "thread_name": record.threadName,
            "hostname": self.hostname,
            "context": {"request_id": None if request_id == "-" else request_id},
            "traceback": None,
            "error_summary": "",
        }
        if record.exc_info and record.exc_info[0] is not None:
            document["traceback"] = traceback.format_exception(*record.exc_info)
            document["error_summary"] = "".join(
                traceback.format_exception_only(*record.exc_info[:2])
            ).strip()
        return json.dumps(document, default=str)
