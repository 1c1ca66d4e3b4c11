"""Logging: one stderr handler, text or JSON lines, each line tagged with its request id."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

NO_REQUEST = "-"
REQUEST_ID: ContextVar[str] = ContextVar("flychat_request_id", default=NO_REQUEST)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
NOT_FIELDS = (*RESERVED_ATTRS, "taskName", "color_message")
CHATTY = ("httpx", "httpcore", "botocore", "alembic.runtime.plugins")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a request) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Tag the record; never drops one."""
        record.request_id = REQUEST_ID.get()
        return True


class JsonLines(JsonFormatter):
    """One JSON object per record: time (ISO 8601 UTC), level, logger, message, extras."""

    def __init__(self) -> None:
        super().__init__(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=NOT_FIELDS,
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time as ``2026-01-31T12:00:00.123+00:00``."""
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``FLYCHAT_LOG_FORMAT``: ``text`` or ``json``."""
    if log_format == "json":
        return JsonLines()
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str) -> None:
    """Send every logger's records to one stderr handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
