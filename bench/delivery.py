"""POST -> SSE delivery latency with many subscribers, and an in-order delivery check.

``measure_delivery`` is reusable: the direct-mode scenario posts to and streams
from the same flychat process; a GRIP scenario can stream through a proxy's port
(``stream_port``) while posting to the app, and pass the app as ``cpu_of``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import select
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.harness import MESSAGES_PATH, Context, Server
from bench.procs import PYTHON, Child, machine_busy_seconds
from bench.rawhttp import Connection, HttpError, form_body, post_request
from bench.stats import hist_percentile, merge, percentile, rounded


@dataclass
class Posted:
    """What the poster sent and what the app answered."""

    stored: dict[int, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    by_index: dict[int, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    late_ms: float = 0.0


async def post_one(conn: Connection, path: str, text: str, index: int, posted: Posted) -> bool:
    """POST one message on ``conn`` and record it in ``posted``; False when the request failed.

    The text carries the send time in ns, which the subscribers use for latency.
    """
    sent_ns = time.monotonic_ns()
    pid = str(uuid.uuid4())
    body = form_body({"from": "bench", "text": f"{text} {sent_ns}", "provisionalId": pid})
    try:
        status, answer = await conn.request(post_request(conn.host, conn.port, path, body))
    except HttpError as exc:
        posted.failures.append(str(exc))
        return False
    posted.latencies.append((time.monotonic_ns() - sent_ns) / 1e6)
    posted.by_index[index] = posted.latencies[-1]
    if status != 200:
        posted.failures.append(f"status {status}: {answer[:200]!r}")
        return True
    message = json.loads(answer)
    posted.stored[int(message["id"])] = message["provisionalId"]
    return True


async def post_at_rate(host: str, port: int, path: str, rate: float, seconds: float) -> Posted:
    """Open-loop form POSTs at ``rate``/s for ``seconds``; text ends with the send time."""
    count = max(1, int(rate * seconds))
    posted = Posted()
    idle: list[Connection] = []

    async def one(index: int) -> None:
        conn = idle.pop() if idle else Connection(host, port)
        if await post_one(conn, path, f"probe {index}", index, posted):
            idle.append(conn)

    start = time.monotonic()
    tasks = []
    for index in range(count):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            posted.late_ms = max(posted.late_ms, -delay * 1000)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return posted


def _readline(child: Child, timeout: float) -> str:
    stdout = child.process.stdout
    assert stdout is not None
    ready, _, _ = select.select([stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"{child.name} said nothing for {timeout}s:\n{child.log_tail()}")
    line = stdout.readline().decode()
    if not line:
        raise RuntimeError(f"{child.name} exited:\n{child.log_tail()}")
    return line.strip()


def measure_delivery(
    ctx: Context,
    post_to: Server,
    *,
    room: str | None = None,
    subscribers: int | None = None,
    rate: float | None = None,
    seconds: float | None = None,
    stream_host: str | None = None,
    stream_port: int | None = None,
    procs: int = 1,
    cpu_of: Server | None = None,
    path: str = MESSAGES_PATH,
) -> dict[str, Any]:
    """Connect ``subscribers`` streams, post at ``rate`` for ``seconds``, check every stream."""
    opts = ctx.options
    room = room or f"latency-{uuid.uuid4().hex[:8]}"
    subscribers = subscribers or opts.subscribers
    rate = rate or opts.rate
    seconds = seconds or opts.seconds
    procs = max(1, min(procs, subscribers))
    shares = [subscribers // procs + (1 if i < subscribers % procs else 0) for i in range(procs)]
    workers = [
        ctx.spawn(
            f"{post_to.name}-subscribers{i}",
            [
                PYTHON, "-m", "bench.subscribers",
                "--host", stream_host or post_to.host,
                "--port", str(stream_port or post_to.port),
                "--path", path, "--room", room, "--count", str(share),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for i, share in enumerate(shares)
    ]  # fmt: skip
    for worker in workers:
        line = _readline(worker, 60)
        if line != "READY":
            raise RuntimeError(f"{worker.name}: unexpected {line!r}")
    time.sleep(0.3)
    measured = cpu_of or post_to
    profiler = ctx.profile(measured, seconds) if opts.profile else None
    cpu0, busy0 = measured.cpu_seconds(), machine_busy_seconds()
    subs0 = sum(w.cpu_seconds() for w in workers)
    posted = asyncio.run(post_at_rate(post_to.host, post_to.port, path.replace("{room}", room),
                                      rate, seconds))  # fmt: skip
    cpu1, busy1 = measured.cpu_seconds(), machine_busy_seconds()
    subs1 = sum(w.cpu_seconds() for w in workers)
    outputs = collect_outputs(ctx, workers, len(posted.stored))
    report = _report(posted, outputs, rate, seconds, subscribers, cpu1 - cpu0)
    report["subscriber_procs_cpu_cores"] = round((subs1 - subs0) / seconds, 2)
    report["machine_busy_cores"] = round((busy1 - busy0) / seconds, 2)
    if profiler is not None:
        report["profile"] = ctx.profile_summary(profiler)
    return report


def _report(
    posted: Posted,
    outputs: list[dict[str, Any]],
    rate: float,
    seconds: float,
    subscribers: int,
    cpu: float,
) -> dict[str, Any]:
    ids = sorted(posted.stored)
    expected = hashlib.sha256()
    for message_id in ids:
        expected.update(f"{message_id}:{posted.stored[message_id]}\n".encode())
    digest = expected.hexdigest()
    streams = [s for o in outputs for s in o["streams"]]
    good = [
        s
        for s in streams
        if s["count"] == len(ids) and s["consecutive"] and s["digest"] == digest and not s["resets"]
    ]
    durable = merge(o["durable_hist"] for o in outputs)
    provisional = merge(o["provisional_hist"] for o in outputs)
    problems = sorted(
        {
            f"count={s['count']} consecutive={s['consecutive']} resets={s['resets']} "
            f"digest_ok={s['digest'] == digest} error={s['error']!r}"
            for s in streams
            if s not in good
        }
    )
    return {
        "subscribers": subscribers,
        "rate_per_s": rate,
        "seconds": seconds,
        "posted": len(ids),
        "post_failures": len(posted.failures),
        "post_failure_sample": posted.failures[:3],
        "ids_gapless": ids == list(range(ids[0], ids[0] + len(ids))) if ids else False,
        "streams_complete_in_order": len(good),
        "all_delivered_in_order": len(good) == subscribers and not posted.failures,
        "stream_problems": problems[:5],
        "durable_events": sum(durable.values()),
        "durable_p50_ms": rounded(hist_percentile(durable, 50)),
        "durable_p99_ms": rounded(hist_percentile(durable, 99)),
        "durable_max_ms": max((s["max_ms"] for s in streams), default=None),
        "provisional_events": sum(provisional.values()),
        "provisional_p50_ms": rounded(hist_percentile(provisional, 50)),
        "provisional_p99_ms": rounded(hist_percentile(provisional, 99)),
        "post_p50_ms": rounded(percentile(posted.latencies, 50)),
        "post_p99_ms": rounded(percentile(posted.latencies, 99)),
        "poster_max_lateness_ms": round(posted.late_ms, 2),
        "slowest_posts_ms": {
            i: round(ms, 1) for i, ms in sorted(posted.by_index.items(), key=lambda kv: -kv[1])[:8]
        },
        "slowest_deliveries_ms": sorted(
            (pair for o in outputs for pair in o.get("slowest", [])), key=lambda p: -p[1]
        )[:8],
        "server_cpu_s_per_1000_msgs": round(cpu / max(1, len(ids)) * 1000, 3),
        "server_cpu_cores": round(cpu / seconds, 2),
        "durable_hist": {str(k): v for k, v in sorted(durable.items())},
        "provisional_hist": {str(k): v for k, v in sorted(provisional.items())},
    }


def collect_outputs(ctx: Context, workers: list[Child], expected: int) -> list[dict[str, Any]]:
    """Tell every subscriber process how many messages to expect; gather their reports."""
    for worker in workers:
        assert worker.process.stdin is not None
        worker.process.stdin.write(f"EXPECT {expected} 15\n".encode())
        worker.process.stdin.flush()
    outputs = []
    for worker in workers:
        out, _ = worker.process.communicate(timeout=60)
        outputs.append(json.loads(out.decode().strip().splitlines()[-1]))
        ctx.stop(worker)
    return outputs
