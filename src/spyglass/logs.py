"""Logging set-up from Glance's oslo.log options, and what the server says when it starts.

Operators' files carry oslo.log's options (``debug``, ``verbose``, ``log_file``, ``log_dir``,
``use_syslog``, ``log_config_append``, ``default_log_levels``...); this module maps them onto
the standard :mod:`logging` package, once per process (the parent and each worker). Libraries
(alembic, SQLAlchemy, uvicorn, httpx...) stay at WARNING unless ``debug = true``, so that an
operator reads Spyglass's own lines: the start-up summary and one access line per request.

Every line says which request it was written for (``[req-...]``, ``[-]`` outside any), as
oslo.log's context format does, so that one request's lines can be found in the API server's
log, the registry's and the background work it started (``spyglass.request_ids``).
"""

from __future__ import annotations

import logging
import logging.config
import logging.handlers
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from spyglass import request_ids
from spyglass.config import Settings
from spyglass.errors import ConfigError
from spyglass.logs_json import JsonFormatter

__all__ = [
    "QUIET_LIBRARIES",
    "RequestIdFilter",
    "configure_logging",
    "mask_url",
    "startup_lines",
]

QUIET_LIBRARIES: tuple[str, ...] = (
    "alembic",
    "sqlalchemy",
    "aiosqlite",
    "asyncio",
    "httpx",
    "httpcore",
    "uvicorn",
    "multipart",
    "python_multipart",
    "oslo_utils",
)
"""Loggers held at WARNING unless ``debug = true`` (upstream's ``default_log_levels`` idea)."""

_FORMAT = "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(request_id)s] %(message)s"
_OSLO_FIELDS = {"request_id": "-", "user_identity": "-", "global_request_id": "-", "instance": ""}
"""What an operator's oslo.log format strings may name besides ``logging``'s own fields."""
_SPYGLASS_HANDLER = "spyglass"
"""Name of the handler this module installs, so that a second call replaces it."""


class RequestIdFilter(logging.Filter):
    """Give every record the id of the request it was logged for (``-`` for none).

    A filter on the handlers, not a logger, so that records from every logger (libraries
    included) get it before any format string asks for ``%(request_id)s``. A record that
    already has one (``extra={"request_id": ...}``) keeps it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_ids.current() or "-"
        return True


_STAMP = RequestIdFilter()
"""One instance, so that configuring again does not stack filters on a handler."""


class _ContextFormatter(logging.Formatter):
    """oslo.log's two formats: ``logging_context_format_string`` for lines written for a
    request, ``logging_default_format_string`` for the others."""

    def __init__(self, context: str, default: str, datefmt: str) -> None:
        super().__init__(context, datefmt, defaults=_OSLO_FIELDS)
        self.default = logging.Formatter(default, datefmt, defaults=_OSLO_FIELDS)

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", "-") == "-":
            return self.default.format(record)
        return super().format(record)


def _formatter(settings: Settings) -> logging.Formatter:
    option = settings.option
    if option("DEFAULT", "use_json"):
        return JsonFormatter(settings.log_date_format)
    classic = settings.log_format or _FORMAT
    context = option("DEFAULT", "logging_context_format_string") or classic
    default = option("DEFAULT", "logging_default_format_string") or classic
    return _ContextFormatter(str(context), str(default), settings.log_date_format)


def _log_path(settings: Settings) -> Path | None:
    if not settings.log_file:
        return None
    path = Path(settings.log_file)
    if settings.log_dir and not path.is_absolute():
        path = Path(settings.log_dir) / path
    return path


def _handler(settings: Settings) -> logging.Handler:
    path = _log_path(settings)
    if settings.use_syslog:
        facility = logging.handlers.SysLogHandler.facility_names.get(
            settings.syslog_log_facility.lower().removeprefix("log_"),
            logging.handlers.SysLogHandler.LOG_USER,
        )
        local = os.path.exists("/dev/log")
        address: str | tuple[str, int] = "/dev/log" if local else ("localhost", 514)
        return logging.handlers.SysLogHandler(address=address, facility=facility)
    if path is None:
        return logging.StreamHandler(sys.stderr)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if settings.watch_log_file:
            return logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"[DEFAULT] log_file: cannot open {path}: {exc.strerror}") from None


def _levels(pairs: Iterable[str]) -> dict[str, int]:
    """``default_log_levels`` items (``sqlalchemy=WARN``) as logger -> level."""
    levels: dict[str, int] = {}
    for pair in pairs:
        name, sep, level = pair.partition("=")
        number = logging.getLevelName(level.strip().upper())
        if not sep or not isinstance(number, int):
            raise ConfigError(f"[DEFAULT] default_log_levels: {pair!r} is not logger=LEVEL")
        levels[name.strip()] = number
    return levels


def _apply_config_file(path: str) -> None:
    try:
        logging.config.fileConfig(path, disable_existing_loggers=False)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"[DEFAULT] log_config_append: {path}: {exc}") from None


def _all_handlers() -> set[logging.Handler]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return {h for lg in loggers if isinstance(lg, logging.Logger) for h in lg.handlers}


def configure_logging(settings: Settings) -> None:
    """Set up logging for this process from ``settings``; safe to call again.

    ``log_config_append`` names a :func:`logging.config.fileConfig` file that then decides
    everything, as with oslo.log. Otherwise: INFO (DEBUG with ``debug``) to stderr, ``log_file``
    (under ``log_dir``) or syslog, with libraries quiet and ``default_log_levels`` on top.
    """
    root = logging.getLogger()
    if settings.log_config_append:
        _apply_config_file(settings.log_config_append)
        for configured in _all_handlers():  # so that the file's formats may name the id
            configured.addFilter(_STAMP)
        return
    for old in [h for h in root.handlers if h.get_name() == _SPYGLASS_HANDLER]:
        root.removeHandler(old)
        old.close()
    handler = _handler(settings)
    handler.set_name(_SPYGLASS_HANDLER)
    handler.setFormatter(_formatter(settings))
    handler.addFilter(_STAMP)
    root.addHandler(handler)
    # ``verbose`` meant INFO in the seed era; INFO is the default now, as in current oslo.log.
    root.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    quiet = logging.NOTSET if settings.debug else logging.WARNING
    levels = dict.fromkeys(QUIET_LIBRARIES, quiet)
    levels.update(_levels(settings.default_log_levels or ()))
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def mask_url(url: str) -> str:
    """A database URL fit for a log line: its password replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", url)


def startup_lines(
    *,
    version: str,
    sources: Sequence[str],
    database: str,
    stores: Sequence[str],
    identity: str,
    address: str,
) -> list[str]:
    """The few lines that tell an operator what this server is about to do."""
    return [
        f"spyglass {version} starting",
        "config files: " + (", ".join(sources) if sources else "none (built-in defaults)"),
        f"database: {mask_url(database)}",
        "stores: " + "; ".join(stores),
        f"identity: {identity}",
        f"listening on {address}",
    ]
