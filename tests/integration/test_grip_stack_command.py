"""``flychat stack``: one command runs the app behind its own Pushpin; Ctrl-C stops both."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.pushpin import Subscriber, free_port, require_pushpin
from tests.support.servers import ROOT

pytestmark = [pytest.mark.pushpin, pytest.mark.slow]


@pytest.fixture
def stack() -> Iterator[tuple[subprocess.Popen[str], int]]:
    require_pushpin()
    port = free_port()
    env = {**os.environ, "FLYCHAT_DATABASE_URL": "memory://", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flychat.entrypoints.cli", "stack", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)


async def announced(process: subprocess.Popen[str]) -> tuple[str, Path]:
    """The URL to open and the file Pushpin's output goes to, as the command prints them."""
    assert process.stdout is not None
    while True:
        line = await asyncio.to_thread(process.stdout.readline)
        if not line:
            raise AssertionError(f"flychat stack exited with {process.poll()} before announcing")
        if match := re.search(r"open (http://127\.0\.0\.1:\d+)/default.*output in (\S+);", line):
            return match.group(1), Path(match.group(2))


async def wait_healthy(client: httpx.AsyncClient, url: str) -> None:
    while True:
        try:
            if (await client.get(f"{url}/healthz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)


async def test_stack_serves_through_pushpin_and_ctrl_c_stops_everything(
    stack: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = stack
    async with asyncio.timeout(40), httpx.AsyncClient(timeout=10) as client:
        url, pushpin_log = await announced(process)
        assert url == f"http://127.0.0.1:{port}"
        await wait_healthy(client, url)
        sub = await Subscriber(client, f"{url}/rooms/lobby/messages/").start()
        posted = await client.post(f"{url}/rooms/lobby/messages/", data={"from": "a", "text": "hi"})
        assert posted.status_code == 200
        await sub.wait_for_ids(1, 10)
        log = pushpin_log.read_text(errors="replace")
        assert "publish channel=messages-lobby" in log
        assert "control: POST /publish/" not in log, "the stack should publish over ZeroMQ"
        assert (await client.get(f"{url}/lobby?user=a")).status_code == 200
        await sub.close()
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 15) == 0
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{url}/healthz")
