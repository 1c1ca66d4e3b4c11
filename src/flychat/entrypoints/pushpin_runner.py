"""Run Pushpin as a plain child process: own config, own zurl, loopback only."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PUSHPIN_BIN = "pushpin"
PORT_STEP = 10

_CONFIG = """\
[global]
include={{libdir}}/internal.conf
rundir={rundir}
ipc_prefix=pushpin-
port_offset=0

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:{http_port}
logdir={logdir}
log_level={log_level}
client_maxconn={max_connections}

[proxy]
zurl_out_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in
zurl_out_stream_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in-stream
zurl_in_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-out
sig_iss={sig_iss}
sig_key={sig_key}
updates_check=off

[handler]
push_in_spec=tcp://127.0.0.1:{push_in}
push_in_sub_specs=tcp://127.0.0.1:{push_in_sub}
push_in_http_addr=127.0.0.1
push_in_http_port={control_port}
command_spec=tcp://127.0.0.1:{command}
{rate_limit}"""


class PushpinError(RuntimeError):
    """Pushpin is missing, failed to start, or did not become ready in time."""


def pushpin_binary() -> str | None:
    """The path of the pushpin executable, or None when it is not installed."""
    return shutil.which(PUSHPIN_BIN)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Pushpin:
    """One Pushpin instance routing every request to ``127.0.0.1:app_port``.

    ``instance_id`` maps to ``pushpin --id`` so several instances can share a host.
    ``message_rate`` caps deliveries per second to clients; None (the default) leaves
    it unset, because Pushpin's rate limiter delivers in batches about 25 ms apart, so
    a publish that follows another within that window waits for the next batch.
    ``grip_url`` names the ZeroMQ publish input (``zmq=``) so apps publish there;
    ``http_grip_url`` is the same without it (publishing through the HTTP control port).
    """

    app_port: int
    http_port: int = 0
    control_port: int = 0
    sig_iss: str = "pushpin"
    sig_key: str = field(default_factory=lambda: secrets.token_hex(24))
    instance_id: int = 0
    workdir: Path | None = None
    max_connections: int = 50_000
    message_rate: int | None = None
    message_hwm: int = 25_000
    log_level: int = 2
    push_in_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _own_workdir: bool = field(default=False, init=False, repr=False)

    @property
    def url(self) -> str:
        """The public base URL clients use."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def http_grip_url(self) -> str:
        """A ``GRIP_URL`` entry publishing through the HTTP control port."""
        return f"http://127.0.0.1:{self.control_port}?iss={self.sig_iss}&key={self.sig_key}"

    @property
    def push_in_spec(self) -> str:
        """Pushpin's ZeroMQ PULL socket for publishing."""
        return f"tcp://127.0.0.1:{self.push_in_port}"

    @property
    def grip_url(self) -> str:
        """The ``GRIP_URL`` entry an app uses: publishes over ZeroMQ, validates Grip-Sig."""
        return f"{self.http_grip_url}&zmq={self.push_in_spec}"

    @property
    def log_path(self) -> Path:
        """Where the merged output of Pushpin and its children goes."""
        assert self.workdir is not None
        return self.workdir / "pushpin.out"

    def _config_text(self) -> str:
        assert self.workdir is not None
        offset = self.instance_id * PORT_STEP
        ports = [free_port() for _ in range(2)]
        rate_limit = (
            ""
            if self.message_rate is None
            else f"message_rate={self.message_rate}\nmessage_hwm={self.message_hwm}\n"
        )
        return _CONFIG.format(
            rundir=self.workdir / "run",
            logdir=self.workdir / "log",
            log_level=self.log_level,
            max_connections=self.max_connections,
            rate_limit=rate_limit,
            http_port=self.http_port,
            sig_iss=self.sig_iss,
            sig_key=self.sig_key,
            push_in=self.push_in_port - offset,
            push_in_sub=ports[0] - offset,
            control_port=self.control_port - offset,
            command=ports[1] - offset,
        )

    def start(self, timeout: float = 15.0) -> None:
        """Write the config, start Pushpin in its own process group, wait until it answers."""
        binary = pushpin_binary()
        if binary is None:
            raise PushpinError("pushpin is not installed (apt-get install pushpin)")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="flychat-pushpin-"))
            self._own_workdir = True
        for sub in ("run", "log"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        for port in (self.http_port, self.control_port, self.push_in_port):
            if port and _port_open(port):
                raise PushpinError(f"port {port} on 127.0.0.1 is already in use")
        self.http_port = self.http_port or free_port()
        self.control_port = self.control_port or free_port()
        self.push_in_port = self.push_in_port or free_port()
        config = self.workdir / "pushpin.conf"
        config.write_text(self._config_text())
        command = [binary, "--config", str(config), "-m", "--route", f"* 127.0.0.1:{self.app_port}"]
        if self.instance_id:
            command += ["--id", str(self.instance_id)]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise PushpinError(f"pushpin exited early; see {self.log_path}:\n{self.tail()}")
            if _port_open(self.http_port) and _port_open(self.control_port):
                return
            time.sleep(0.05)
        self.stop()
        raise PushpinError(f"pushpin not ready after {timeout} s; see {self.log_path}")

    def tail(self, lines: int = 30) -> str:
        """The last lines of Pushpin's output, for error messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """Every live process of this instance: the runner and the children it started."""
        if self.process is None:
            return []
        return [pid for pid, stat in _proc_stats() if int(stat[3]) == self.process.pid]

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the live processes of this instance (Linux)."""
        if self.process is None:
            return 0.0
        ticks = os.sysconf("SC_CLK_TCK")
        return sum(
            (int(stat[11]) + int(stat[12])) / ticks
            for _, stat in _proc_stats()
            if int(stat[3]) == self.process.pid
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the runner (SIGTERM), then SIGKILL any child it left; drop the temp dir.

        The runner leads its own session, so its children are found by session id.
        """
        process = self.process
        if process is not None:
            leftovers = self.pids()
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout)
            survivors = {pid for pid, stat in _proc_stats() if int(stat[3]) == process.pid}
            for pid in survivors.intersection(leftovers):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        self.process = None
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Pushpin:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _proc_stats() -> list[tuple[int, list[str]]]:
    """(pid, fields after the command name) of every process in /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    found.append((int(entry), handle.read().rsplit(")", 1)[1].split()))
            except OSError:
                continue
    return found
