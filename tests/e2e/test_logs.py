"""``flychat serve`` as a real process: JSON and text log lines on stderr, one access line each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.support.servers import flychat_process

pytestmark = pytest.mark.slow

FIELDS = {"time", "level", "logger", "message"}
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def exercise(base_url: str) -> dict[str, httpx.Response]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        return {
            "post": http.post(
                "/rooms/logged/messages/",
                data={"from": "a", "text": "hi"},
                headers={"X-Request-ID": "log-test-1"},
            ),
            "missing": http.get("/no/such/page"),
            "bad": http.post("/rooms/logged/messages/", data={"from": "a"}),
        }


def test_json_format_is_one_object_per_line_with_access_lines() -> None:
    env = {"FLYCHAT_DATABASE_URL": "memory://", "FLYCHAT_LOG_FORMAT": "json"}
    with flychat_process(env) as server:
        answers = exercise(server.base_url)
        server.stop()
        stderr = server.stderr_text()
    lines: list[dict[str, Any]] = [json.loads(line) for line in stderr.splitlines() if line]
    assert lines and [line for line in lines if not line.keys() >= FIELDS] == []
    assert all(ISO_TIME.fullmatch(line["time"]) for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "flychat.access"}
    for name, response in answers.items():
        line = access.get(response.headers["x-request-id"])
        assert line is not None, name
        assert line["status"] == response.status_code and line["level"] == "INFO"
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
    post = access["log-test-1"]
    assert (post["method"], post["path"], post["status"]) == (
        "POST",
        "/rooms/logged/messages/",
        200,
    )
    assert access[answers["missing"].headers["x-request-id"]]["path"] == "/no/such/page"
    assert not [line for line in lines if line["logger"].startswith("uvicorn.access")]
    assert any(line["logger"] == "uvicorn.error" for line in lines)


def test_text_format_is_readable_and_keeps_the_log_level() -> None:
    env = {"FLYCHAT_DATABASE_URL": "memory://"}
    with flychat_process(env) as server:
        answers = exercise(server.base_url)
        server.stop()
        stderr = server.stderr_text()
    request_id = answers["post"].headers["x-request-id"]
    access = [line for line in stderr.splitlines() if " flychat.access " in line]
    assert len(access) >= len(answers) + 1
    assert any(
        f"INFO flychat.access [{request_id}]" in line
        and '"POST /rooms/logged/messages/" 200' in line
        for line in access
    )
    assert "HTTP/1.1" not in stderr
    assert not [line for line in stderr.splitlines() if line.startswith("{")]

    quiet = {**env, "FLYCHAT_LOG_LEVEL": "warning"}
    with flychat_process(quiet) as server:
        exercise(server.base_url)
        server.stop()
        assert " flychat.access " not in server.stderr_text()


def test_a_failing_command_reports_in_json_too() -> None:
    env = {
        **os.environ,
        "FLYCHAT_LOG_FORMAT": "json",
        "FLYCHAT_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nothing",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flychat.entrypoints.cli", "migrate"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stderr.decode().splitlines() if line]
    assert lines and lines[-1]["level"] == "ERROR" and "unavailable" in lines[-1]["message"]
