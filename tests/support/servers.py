"""Running flychat for tests: in a thread of this process, or as its own process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from litestar import Litestar

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    base_url: str, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``/healthz`` until it answers 200; raise when it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"flychat exited early with code {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{base_url} did not become healthy in {timeout}s")


@contextmanager
def app_in_thread(app: Litestar) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
            proxy_headers=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(10)


def stop_process(
    process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 15.0
) -> float:
    """Signal a child we started (by its PID), kill it after ``timeout``; return the time taken."""
    started = time.monotonic()
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return time.monotonic() - started


class FlychatProcess:
    """A ``flychat serve`` child process, stopped by its own PID."""

    def __init__(self, env: Mapping[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "FLYCHAT_PORT": str(self.port),
            "FLYCHAT_HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self, timeout: float = 30.0) -> FlychatProcess:
        """Start the process and wait until it is healthy."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flychat.entrypoints.cli", "serve"],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        wait_healthy(self.base_url, timeout, self.process)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> float:
        """Signal the process, wait for it to exit; return how long that took."""
        return stop_process(self.process, sig, timeout)

    def stderr_text(self) -> str:
        """What the process has written to stderr so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


@contextmanager
def flychat_process(env: Mapping[str, str], port: int | None = None) -> Iterator[FlychatProcess]:
    """A running ``flychat serve`` for the block; stopped by PID afterwards."""
    proc = FlychatProcess(env, port).start()
    try:
        yield proc
    finally:
        proc.stop()
