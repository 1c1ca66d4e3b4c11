"""Child processes of the harness: started on loopback, stopped by their own PID only."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (all its threads; Linux)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idle and I/O wait since boot (Linux)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the child if the harness dies without cleaning up."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One process the harness started; ``stop`` signals exactly this PID."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None,
        log_dir: Path,
        stdin: int | None = None,
        stdout: int | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            list(argv),
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=ROOT,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else self._log,
            stderr=self._log,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.pid = self.process.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        """CPU seconds this process used so far (0.0 once it is gone)."""
        try:
            return cpu_seconds(self.pid)
        except (OSError, IndexError, ValueError):
            return 0.0

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the process wrote to stderr (and stdout when not piped)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 12.0) -> int | None:
        """Signal this PID, wait for it, SIGKILL it after ``timeout``; return its exit code."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait(5)
        self._log.close()
        return self.process.returncode


def wait_http_ok(
    url: str,
    child: Child | None = None,
    timeout: float = 30.0,
    ok: Callable[[int], bool] | None = None,
) -> None:
    """Poll ``url`` until it answers 2xx; raise with the child's log when it never does."""
    accept = ok or (lambda status: 200 <= status < 300)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(
                f"{child.name} exited early with code {child.process.returncode}:\n"
                f"{child.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if accept(response.status):
                    return
        except urllib.error.HTTPError as exc:
            if accept(exc.code):
                return
        except OSError:
            pass
        time.sleep(0.05)
    tail = child.log_tail() if child is not None else ""
    raise TimeoutError(f"{url} did not answer within {timeout}s\n{tail}")
