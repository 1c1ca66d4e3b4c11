"""What one wake-up costs on this machine: a minimal server's CPU per request by rate.

Scenario ``wake-cost`` starts a minimal uvloop echo server (one ``asyncio.Protocol``
that answers each 1-byte request with 2 bytes; no HTTP, no framework) and sends it
requests one at a time from one connection, at a few fixed rates and at full speed.
Its CPU per request at a low rate against full speed is what each sleep and wake-up
of a process costs here, whatever the code: flychat's POST at 10/s (``grip-50``)
and a sequential client's round trip through Pushpin's five processes (``grip-seq``)
pay it several times per message. A second server also sends one ZeroMQ PUSH message
per request, as flychat's GRIP publisher does, which adds a wake of pyzmq's I/O
thread. CPU is each server's ``/proc/PID/task/*/schedstat`` run time (nanoseconds).

    python -m bench.wake_cost --serve PORT [--zmq tcp://127.0.0.1:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

from bench.harness import Context, Result, scenario
from bench.procs import LOOPBACK, PYTHON, free_port

RATES = (10.0, 200.0, 0.0)
"""Requests per second; 0 is full speed."""
SECONDS = 3.0


def run_seconds(pid: int) -> float:
    """CPU seconds every thread of ``pid`` has run, from the scheduler (nanoseconds)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
        except OSError:
            continue
    return total / 1e9


class _Echo(asyncio.Protocol):
    def __init__(self, push: Any) -> None:
        self.push = push
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.push is not None:
            self.push.send(b"J{}", copy=True)
        assert self.transport is not None
        self.transport.write(b"ok")


async def _serve(port: int, zmq_uri: str | None) -> None:
    push = None
    if zmq_uri is not None:
        import zmq

        push = zmq.Context().socket(zmq.PUSH)
        push.connect(zmq_uri)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Echo(push), LOOPBACK, port)
    print("READY", flush=True)
    async with server:
        await server.serve_forever()


def _wait_listening(port: int, timeout: float = 15.0) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((LOOPBACK, port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def measure(
    sock: socket.socket, pid: int, rate: float, seconds: float, drain: Callable[[], None]
) -> float:
    """Server CPU microseconds per request at ``rate`` (0: full speed), one at a time."""
    count = 0
    start = time.monotonic()
    cpu0 = run_seconds(pid)
    while time.monotonic() - start < seconds:
        if rate:
            delay = start + count / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sock.sendall(b"x")
        if sock.recv(16) != b"ok":
            raise RuntimeError("the echo server answered something else")
        drain()
        count += 1
    return (run_seconds(pid) - cpu0) / count * 1e6


def _server_costs(ctx: Context, with_zmq: bool) -> dict[str, float]:
    port = free_port()
    argv = [PYTHON, "-m", "bench.wake_cost", "--serve", str(port)]
    pull: Any = None
    if with_zmq:
        import zmq

        pull = zmq.Context.instance().socket(zmq.PULL)
        zmq_port = pull.bind_to_random_port(f"tcp://{LOOPBACK}")
        argv += ["--zmq", f"tcp://{LOOPBACK}:{zmq_port}"]

    def drain() -> None:
        while pull is not None and pull.poll(0):
            pull.recv()

    name = "wake-echo-zmq" if with_zmq else "wake-echo"
    child = ctx.spawn(name, argv, stdout=subprocess.PIPE)
    try:
        assert child.process.stdout is not None
        if child.process.stdout.readline().strip() != b"READY":
            raise RuntimeError(f"{name} did not start:\n{child.log_tail()}")
        with _wait_listening(port) as sock:
            measure(sock, child.pid, 0.0, 0.5, drain)
            return {
                ("full" if not rate else f"{rate:g}/s"): round(
                    measure(sock, child.pid, rate, SECONDS, drain), 1
                )
                for rate in RATES
            }
    finally:
        ctx.stop(child)
        if pull is not None:
            pull.close(0)


@scenario(
    "wake-cost",
    "the machine: CPU per request of a minimal uvloop echo server at 10/s, 200/s and "
    "full speed, without and with one ZeroMQ send per request",
    order=5,
    groups=("grip",),
)
def wake_cost(ctx: Context) -> Result:
    plain = _server_costs(ctx, with_zmq=False)
    zmq_send = _server_costs(ctx, with_zmq=True)
    metrics: dict[str, Any] = {
        "echo_cpu_us_per_request": plain,
        "echo_zmq_cpu_us_per_request": zmq_send,
        "wake_us_at_10_per_s": round(plain["10/s"] - plain["full"], 1),
        "zmq_send_us_at_10_per_s": round(zmq_send["10/s"] - plain["10/s"], 1),
    }

    def line(costs: dict[str, float]) -> str:
        return " / ".join(f"{costs[k]:g}" for k in ("10/s", "200/s", "full")) + " us"

    rows = [
        ("echo server CPU per request at 10/s / 200/s / full speed", line(plain)),
        ("same with one ZeroMQ send per request", line(zmq_send)),
        (
            "so one sleep and wake-up costs / one ZeroMQ send adds (at 10/s)",
            f"{metrics['wake_us_at_10_per_s']:g} / {metrics['zmq_send_us_at_10_per_s']:g} us",
        ),
    ]
    return Result(metrics, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", type=int, required=True, help="port to listen on")
    parser.add_argument("--zmq", help="also PUSH one message per request to this endpoint")
    args = parser.parse_args()
    import uvloop

    uvloop.run(_serve(args.serve, args.zmq))


if __name__ == "__main__":
    main()
