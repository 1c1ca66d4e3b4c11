"""Logging: one stderr handler, text or JSON lines, each line tagged with its request id."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

NO_REQUEST = "-"
REQUEST_ID: ContextVar[str] = ContextVar("flychat_request_id", default=NO_REQUEST)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
NOT_FIELDS = (*RESERVED_ATTRS, "taskName", "color_message")
ACCESS = logging.getLogger("flychat.access")
ACCESS_FLUSH_SECONDS = 0.1
"""The longest an access line waits in the stream's buffer before it is written."""
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


class AccessLines:
    """Writes access lines to the handler's stream in its format, without a LogRecord.

    The logging machinery costs a request more than the rest of the access line;
    this writes the same line (same fields, same shape) as ``handler`` would, while
    ``handler`` is the root's only one and ``flychat.access`` adds none of its own.
    On an event loop the lines go to the stream's byte buffer, which is written when
    it fills or ``ACCESS_FLUSH_SECONDS`` after its first unwritten line (one write
    for many requests); any other log record flushes the same stream first, so lines
    keep their order.
    """

    def __init__(self, handler: logging.StreamHandler[TextIO], log_format: str) -> None:
        assert handler.lock is not None
        self.handler = handler
        self._lock = handler.lock
        self.json = log_format == "json"
        self._second = -1
        self._stamp = ""
        self._flush_soon = False

    def in_force(self) -> bool:
        """True while the logging setup is still the one this writer mirrors."""
        root = logging.getLogger()
        return root.handlers == [self.handler] and not ACCESS.handlers and ACCESS.propagate

    def _time(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            if self.json:
                self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            else:
                self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((now - second) * 1000)
        return f"{self._stamp}.{millis:03d}+00:00" if self.json else f"{self._stamp},{millis:03d}"

    def write(
        self, peer: str, method: str, path: str, status: int, ms: float, request_id: str
    ) -> None:
        """One INFO line on ``flychat.access``, as the handler's formatter would write it."""
        stamp = self._time(time.time())
        message = f'{peer} "{method} {path}" {status} {ms:.1f}ms'
        if self.json:
            line = (
                f'{{"time": "{stamp}", "level": "INFO", "logger": "{ACCESS.name}", '
                f'"message": {_json_text(message)}, "method": {_json_text(method)}, '
                f'"path": {_json_text(path)}, "status": {status}, "duration_ms": {ms!r}, '
                f'"request_id": {_json_text(request_id)}}}'
            )
        else:
            line = f"{stamp} INFO {ACCESS.name} [{request_id}] {message}"
        stream = self.handler.stream
        raw = getattr(stream, "buffer", None)
        if raw is None or (loop := _running_loop()) is None:
            with self._lock:
                stream.write(line + "\n")
                self.handler.flush()
            return
        with self._lock:
            raw.write((line + "\n").encode(stream.encoding, stream.errors or "strict"))
            if self._flush_soon:
                return
            self._flush_soon = True
        loop.call_later(ACCESS_FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._flush_soon = False
            self.handler.flush()


_json_text = json.encoder.encode_basestring
"""A str as a JSON string, non-ASCII kept (as ``json.dumps(..., ensure_ascii=False)``)."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_writers: list[AccessLines] = []


def access_lines() -> AccessLines | None:
    """The fast access-line writer ``configure_logging`` installed, while it still applies."""
    writer = _writers[-1] if _writers else None
    return writer if writer is not None and writer.in_force() else None


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
    _writers[:] = [AccessLines(handler, log_format)]
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
