"""A real Pushpin and real flychat processes for GRIP tests, plus SSE subscribers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from flychat.entrypoints.pushpin_runner import Pushpin, PushpinError, pushpin_binary
from tests.support.servers import ROOT, free_port, stop_process, wait_healthy
from tests.support.services import missing_service
from tests.support.sse import Event, events


def require_pushpin() -> None:
    """Skip (or fail in CI) when the pushpin binary is not installed."""
    if pushpin_binary() is None:
        missing_service("pushpin is not installed (apt-get install pushpin)")


@contextmanager
def running_pushpin(app_port: int, **options: Any) -> Iterator[Pushpin]:
    """A started Pushpin routing to ``127.0.0.1:app_port``; stopped by its PID afterwards."""
    require_pushpin()
    pushpin = Pushpin(app_port=app_port, **options)
    try:
        pushpin.start()
    except PushpinError:
        pushpin.stop()
        raise
    try:
        yield pushpin
    finally:
        pushpin.stop()


async def wait_for_recovery(pushpin: Pushpin, room: str, timeout: float = 10.0) -> None:
    """Wait until Pushpin has fetched a next link of ``room`` successfully.

    Pushpin recovers every session about a second after a channel gets its first
    subscriber; tests that stop the app wait for that first, so the recovery does
    not meet a stopped app (Pushpin then retries for a while and closes the stream).
    """
    needle = f"/rooms/{room}/messages/?recover=true code=200"
    async with asyncio.timeout(timeout):
        while needle not in pushpin.log_path.read_text(errors="replace"):
            await asyncio.sleep(0.1)


class AppProcess:
    """``flychat serve`` as a child process; output goes to a log file, never a pipe."""

    def __init__(self, env: Mapping[str, str], port: int, log_dir: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"app-{port}-{os.urandom(3).hex()}.log"
        self.env = {**os.environ, "FLYCHAT_LOG_LEVEL": "warning", **env}
        self.env.update(FLYCHAT_HOST="127.0.0.1", FLYCHAT_PORT=str(port), PYTHONUNBUFFERED="1")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> AppProcess:
        """Start and wait until ``/healthz`` answers."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flychat.entrypoints.cli", "serve"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(self.url, timeout, self.process)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Signal this process (by its PID) and wait for it to exit."""
        stop_process(self.process, sig, timeout)

    def log_text(self) -> str:
        """Everything the process wrote."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def app_process(env: Mapping[str, str], port: int, log_dir: Path) -> Iterator[AppProcess]:
    """A running app for the block, stopped afterwards."""
    app = AppProcess(env, port, log_dir)
    try:
        yield app.start()
    finally:
        app.stop()


class Subscriber:
    """One SSE client reading a room through a proxy in a background task."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: Mapping[str, str] = {}):
        self.client = client
        self.url = url
        self.headers = {"Accept": "text/event-stream", **headers}
        self.events: list[Event] = []
        self.status: int | None = None
        self.ended = False
        self.error: httpx.HTTPError | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Subscriber:
        """Connect and wait for ``stream-open``."""
        self._task = asyncio.create_task(self._read())
        await self.wait_for(lambda s: any(e.event == "stream-open" for e in s.events), 10)
        return self

    async def _read(self) -> None:
        try:
            async with self.client.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                async for event in events(response.aiter_raw()):
                    self.events.append(event)
                    self._changed.set()
        except httpx.HTTPError as exc:
            self.error = exc
        finally:
            self.ended = True
            self._changed.set()

    async def wait_for(self, done: Callable[[Subscriber], bool], timeout: float) -> None:
        """Wait until ``done(self)`` holds; raise TimeoutError naming what arrived."""
        try:
            async with asyncio.timeout(timeout):
                while not done(self):
                    if self.ended:
                        raise AssertionError(f"stream ended early: {self.summary()}")
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"waited {timeout}s; got {self.summary()}") from None

    async def wait_for_ids(self, last: int, timeout: float) -> None:
        """Wait until the durable message ``last`` has arrived."""
        await self.wait_for(lambda s: str(last) in (e.id for e in s.durable()), timeout)

    def durable(self) -> list[Event]:
        """The durable ``message`` events, in arrival order."""
        return [e for e in self.events if e.event == "message" and e.id is not None]

    def durable_ids(self) -> list[int]:
        """Ids of the durable messages, in arrival order."""
        return [int(e.id) for e in self.durable() if e.id is not None]

    def provisional(self) -> list[Event]:
        """The provisional events (no id), in arrival order."""
        return [e for e in self.events if e.event == "message" and e.id is None]

    def comments(self) -> list[str]:
        """The SSE comments received (keep-alives)."""
        return [e.comment for e in self.events if e.comment is not None]

    def summary(self) -> str:
        """A short description of what arrived, for failure messages."""
        kinds = [e.event if e.comment is None else ":" for e in self.events]
        return (
            f"status={self.status} ended={self.ended} error={self.error!r} "
            f"ids={self.durable_ids()} kinds={kinds[-12:]}"
        )

    async def close(self) -> None:
        """Stop reading and drop the connection."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def subscribers(client: httpx.AsyncClient, url: str, count: int) -> list[Subscriber]:
    """``count`` connected subscribers of ``url``."""
    return list(await asyncio.gather(*(Subscriber(client, url).start() for _ in range(count))))


__all__ = [
    "AppProcess",
    "Pushpin",
    "Subscriber",
    "app_process",
    "free_port",
    "require_pushpin",
    "running_pushpin",
    "subscribers",
    "wait_for_recovery",
]
