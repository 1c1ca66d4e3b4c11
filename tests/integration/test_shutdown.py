"""SIGTERM on `flychat serve`: in-flight POSTs finish, streams end cleanly, exit within 10 s."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator

import httpx

from tests.support.servers import FlychatProcess
from tests.support.sse import events


async def test_sigterm_finishes_posts_and_ends_streams() -> None:
    proc = FlychatProcess({"FLYCHAT_DATABASE_URL": "memory://"}).start()
    try:
        async with httpx.AsyncClient(base_url=proc.base_url, timeout=15) as client:
            ended: list[str] = []

            async def hold_stream() -> None:
                headers = {"Accept": "text/event-stream"}
                async with client.stream("GET", "/rooms/shutdown/messages/", headers=headers) as r:
                    async for event in events(r.aiter_bytes()):
                        ended.append(event.event)
                ended.append("closed")

            streams = [asyncio.create_task(hold_stream()) for _ in range(3)]
            while ended.count("stream-open") < 3:
                await asyncio.sleep(0.05)

            body_started = asyncio.Event()

            async def slow_body() -> AsyncIterator[bytes]:
                yield b"from=alice&"
                body_started.set()
                await asyncio.sleep(1.0)
                yield b"text=sent+during+shutdown"

            posting = asyncio.create_task(
                client.post(
                    "/rooms/shutdown/messages/",
                    content=slow_body(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            )
            await body_started.wait()
            await asyncio.sleep(0.2)
            assert proc.process is not None
            started = time.monotonic()
            proc.process.send_signal(signal.SIGTERM)
            response = await posting
            await asyncio.wait_for(asyncio.gather(*streams), 10)
            exit_code = await asyncio.to_thread(proc.process.wait, 10)
            took = time.monotonic() - started
    finally:
        proc.stop()
    assert response.status_code == 200
    assert response.json()["text"] == "sent during shutdown"
    assert ended.count("closed") == 3
    assert exit_code == 0 and took < 10


def _main_thread_wakeups(pid: int) -> int:
    with open(f"/proc/{pid}/task/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if "ctxt_switches" in line)
    return sum(int(value) for value in fields.values())


def test_idle_server_wakes_about_once_a_second_and_still_stops_at_once() -> None:
    proc = FlychatProcess({"FLYCHAT_DATABASE_URL": "memory://"}).start()
    try:
        assert proc.process is not None
        httpx.get(f"{proc.base_url}/rooms/idle/messages/", timeout=5).raise_for_status()
        time.sleep(0.5)
        before = _main_thread_wakeups(proc.process.pid)
        time.sleep(2)
        wakeups = _main_thread_wakeups(proc.process.pid) - before
        date = httpx.get(f"{proc.base_url}/rooms/idle/messages/", timeout=5).headers["date"]
        took = proc.stop()
    finally:
        proc.stop()
    assert wakeups <= 8, f"{wakeups} wakeups in 2 s (uvicorn's own loop wakes 20 times)"
    assert date.endswith(" GMT")
    assert took < 1.0
