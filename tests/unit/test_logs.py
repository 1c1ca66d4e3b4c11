"""The access line: the fast writer prints what the logging path would, in both formats."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from flychat.entrypoints.logs import (
    ACCESS,
    ACCESS_FLUSH_SECONDS,
    REQUEST_ID,
    AccessLines,
    RequestIdFilter,
    access_lines,
    formatter,
)
from flychat.entrypoints.request_log import _log_access, request_id_of

TEXT_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
JSON_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


@pytest.fixture
def handler() -> Iterator[logging.StreamHandler[io.StringIO]]:
    out = logging.StreamHandler(io.StringIO())
    out.addFilter(RequestIdFilter())
    ACCESS.addHandler(out)
    ACCESS.setLevel(logging.INFO)
    token = REQUEST_ID.set("req-7")
    try:
        yield out
    finally:
        REQUEST_ID.reset(token)
        ACCESS.setLevel(logging.NOTSET)
        ACCESS.removeHandler(out)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_fast_line_equals_the_logged_line(
    handler: logging.StreamHandler[io.StringIO], log_format: str
) -> None:
    handler.setFormatter(formatter(log_format))
    scope: Any = {"method": "POST", "client": ("10.0.0.1", 5555)}
    AccessLines(handler, log_format).write(
        "10.0.0.1:5555", "POST", "/rooms/a/messages/", 200, 1.234, "req-7"
    )
    assert access_lines() is None
    _log_access(scope, "/rooms/a/messages/", 200, 0.001234)
    fast, logged = handler.stream.getvalue().splitlines()
    if log_format == "text":
        assert TEXT_TIME.match(fast) and TEXT_TIME.match(logged)
        assert fast[24:] == logged[24:]
        assert (
            logged[24:]
            == 'INFO flychat.access [req-7] 10.0.0.1:5555 "POST /rooms/a/messages/" 200 1.2ms'
        )
    else:
        fast_fields, logged_fields = json.loads(fast), json.loads(logged)
        assert list(fast_fields) == list(logged_fields)
        assert JSON_TIME.fullmatch(fast_fields.pop("time"))
        assert JSON_TIME.fullmatch(logged_fields.pop("time"))
        assert fast_fields == logged_fields
        assert logged_fields["duration_ms"] == 1.234 and logged_fields["request_id"] == "req-7"


def test_request_id_header_rules() -> None:
    assert request_id_of([(b"x-request-id", b"ok.id-1_2")]) == "ok.id-1_2"
    assert request_id_of([(b"x-request-id", b"a" * 128)]) == "a" * 128
    for bad in (b"a" * 129, b"", b"sp ace", b"\xc3\xbc"):
        assert re.fullmatch(r"[0-9a-f]{32}", request_id_of([(b"x-request-id", bad)]))
    assert request_id_of([]) != request_id_of([])


def byte_stream_handler() -> tuple[logging.StreamHandler[io.TextIOWrapper], io.BytesIO]:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", line_buffering=True)
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter("text"))
    return handler, raw


async def test_lines_are_written_together_and_in_order() -> None:
    handler, raw = byte_stream_handler()
    lines = AccessLines(handler, "text")
    lines.write("p:1", "POST", "/a", 200, 1.0, "r-1")
    lines.write("p:1", "POST", "/b", 200, 1.0, "r-2")
    assert raw.getvalue() == b""
    handler.handle(logging.makeLogRecord({"msg": "an error between", "levelname": "ERROR"}))
    lines.write("p:1", "POST", "/c", 201, 1.0, "r-3")
    await asyncio.sleep(0)
    assert raw.getvalue().decode().count("\n") == 3
    await asyncio.sleep(ACCESS_FLUSH_SECONDS + 0.05)
    written = raw.getvalue().decode().splitlines()
    assert [line.split("] ", 1)[1] for line in written] == [
        'p:1 "POST /a" 200 1.0ms',
        'p:1 "POST /b" 200 1.0ms',
        "an error between",
        'p:1 "POST /c" 201 1.0ms',
    ]


def test_without_a_loop_each_line_is_written_at_once() -> None:
    handler, raw = byte_stream_handler()
    AccessLines(handler, "json").write("p:1", "GET", "/x", 404, 0.5, "r-9")
    assert json.loads(raw.getvalue())["path"] == "/x"


def test_json_lines_escape_what_json_must() -> None:
    handler, raw = byte_stream_handler()
    path = '/rooms/"ü\\\x01\u2028/messages'
    AccessLines(handler, "json").write("p:1", "GET", path, 200, 0.125, "r-1")
    line = raw.getvalue().decode()
    assert json.loads(line)["path"] == path
    assert "ü" in line and line.count("\n") == 1
