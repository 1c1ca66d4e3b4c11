"""A ``flychat serve`` subprocess for browser tests: restartable on the same port and store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from tests.support.servers import ROOT, free_port, stop_process, wait_healthy

ARTIFACTS = ROOT / "test-artifacts"


class AppServer:
    """One app process at a time on a fixed port; its output goes to a log file."""

    def __init__(
        self,
        database_url: str,
        name: str,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.extra_env = env or {}
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path: Path = ARTIFACTS / f"server-{name}.log"
        self.log_path.write_text("")
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 20.0) -> AppServer:
        """Start a new process on this port and wait until ``/healthz`` answers."""
        env = {
            **os.environ,
            "FLYCHAT_DATABASE_URL": self.database_url,
            "FLYCHAT_LOG_LEVEL": "warning",
            **self.extra_env,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flychat.entrypoints.cli", "serve", "--port", str(self.port)],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_healthy(self.base_url, timeout, self.process)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> float:
        """Signal our process by its PID and wait for it; return how long it took."""
        took = stop_process(self.process, sig, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.process = None
        return took

    def restart(self) -> float:
        """Stop (SIGTERM) and start again on the same port and store; return the stop time."""
        took = self.stop()
        self.start()
        return took
