"""Direct-mode fan-out: flychat against the bare fan-out ceiling, at scale, and idle memory.

``sse-bare`` and ``sse-direct`` (bench/core.py) run the same load side by side:
``--subscribers`` streams on one room, ``--rate`` posts/s for ``--seconds``.
``fanout-1000`` reports deliveries/s one process sustains at 1,000 subscribers;
``idle-streams`` the RSS one idle stream costs (memory store, 5,000 streams).
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from bench.core import delivery_rows, problem_rows, profile_rows
from bench.delivery import _readline, measure_delivery
from bench.harness import MESSAGES_PATH, Context, Result, scenario
from bench.procs import PYTHON

FANOUT_SUBSCRIBERS = 1000
FANOUT_RATE = 20.0
FANOUT_PROCS = 4
IDLE_STREAMS = 5000
IDLE_PROCS = 5
TARGET_CPU_RATIO = 2.0
TARGET_P99_RATIO = 2.0
TARGET_DELIVERIES = 20_000
TARGET_FANOUT_P99_MS = 100.0
TARGET_IDLE_KB = 16.0


def rss_kb(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux)."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def compare_to_bare(ctx: Context, metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Add CPU and p99 ratios to ``sse-bare`` measured in this run; the table rows."""
    bare = ctx.results.get("sse-bare")
    if not bare:
        return []
    cpu = metrics["server_cpu_cores"] / max(bare["server_cpu_cores"], 1e-9)
    p99 = (metrics["durable_p99_ms"] or 0) / max(bare["durable_p99_ms"] or 0, 1e-9)
    kept = metrics["posted"] / max(metrics["rate_per_s"] * metrics["seconds"], 1)
    metrics.update(
        cpu_ratio_to_bare=round(cpu, 2),
        p99_ratio_to_bare=round(p99, 2),
        rate_kept=round(kept, 3),
        targets_met={
            "cpu": cpu <= TARGET_CPU_RATIO,
            "p99": p99 <= TARGET_P99_RATIO,
            "rate": kept >= 0.99 and metrics["all_delivered_in_order"],
        },
    )
    return [
        (
            "server CPU / bare's (target <= 2)",
            f"{cpu:.2f} ({metrics['server_cpu_cores']} vs {bare['server_cpu_cores']} cores)",
        ),
        (
            "durable p99 / bare's (target <= 2)",
            f"{p99:.2f} ({metrics['durable_p99_ms']} vs {bare['durable_p99_ms']} ms)",
        ),
        ("rate kept", f"{kept:.0%} of {metrics['rate_per_s']:g}/s"),
    ]


@scenario(
    "sse-bare",
    "bare Litestar fan-out (asyncio.Queue per stream, no storage): the fan-out ceiling",
    order=45,
    key="durable_p99_ms",
    groups=("fanout",),
)
def sse_bare(ctx: Context) -> Result:
    server = ctx.start_bare("bare-sse")
    m = measure_delivery(ctx, server)
    return Result(m, delivery_rows(m) + problem_rows(m))


@scenario(
    "sse-direct",
    "flychat direct mode on SQLite, the same load as sse-bare, side by side",
    needs=("sse-bare",),
    order=50,
    key="durable_p99_ms",
    groups=("fanout",),
)
def sse_direct(ctx: Context) -> Result:
    server = ctx.start_flychat("flychat-sse", ctx.sqlite_url("sse"))
    m = measure_delivery(ctx, server)
    rows = delivery_rows(m) + compare_to_bare(ctx, m)
    return Result(m, rows + profile_rows(m) + problem_rows(m))


@scenario(
    "fanout-1000",
    f"direct mode, SQLite: {FANOUT_SUBSCRIBERS} subscribers on one room, "
    f"{FANOUT_RATE:g} posts/s: deliveries/s of one process",
    order=60,
    key="deliveries_per_s",
    groups=("fanout",),
)
def fanout_1000(ctx: Context) -> Result:
    server = ctx.start_flychat("flychat-fanout", ctx.sqlite_url("fanout"))
    m = measure_delivery(
        ctx, server, subscribers=FANOUT_SUBSCRIBERS, rate=FANOUT_RATE, procs=FANOUT_PROCS
    )
    m["deliveries_per_s"] = round(m["durable_events"] / m["seconds"], 1)
    m["deliveries_per_server_cpu_s"] = round(
        m["durable_events"] / max(m["server_cpu_cores"] * m["seconds"], 1e-9), 1
    )
    met = (
        m["deliveries_per_s"] >= TARGET_DELIVERIES * 0.99
        and (m["durable_p99_ms"] or 1e9) <= TARGET_FANOUT_P99_MS
    )
    m["target_met"] = met
    rows = [
        *delivery_rows(m),
        (
            f"durable deliveries/s (goal >= {TARGET_DELIVERIES:,} at p99 <= "
            f"{TARGET_FANOUT_P99_MS:g} ms)",
            f"{m['deliveries_per_s']:,.0f} ({'met' if met else 'NOT met'}; "
            f"{m['deliveries_per_server_cpu_s']:,.0f} per server CPU second)",
        ),
        (
            "CPU cores: server / subscriber processes / whole machine",
            f"{m['server_cpu_cores']} / {m['subscriber_procs_cpu_cores']} / "
            f"{m['machine_busy_cores']} of {os.cpu_count()}",
        ),
    ]
    return Result(m, rows + profile_rows(m) + problem_rows(m))


def _idle_rss(ctx: Context, server: Any) -> dict[str, Any]:
    room = "idle"
    path = MESSAGES_PATH.replace("{room}", room)
    warm = _hold_streams(ctx, server.port, path, room, 50, 1, f"{server.name}-warm")
    time.sleep(1.0)
    before = rss_kb(server.child.pid)
    holders = _hold_streams(
        ctx, server.port, path, room, IDLE_STREAMS, IDLE_PROCS, f"{server.name}-idle"
    )
    time.sleep(2.0)
    after = rss_kb(server.child.pid)
    for holder in holders + warm:
        ctx.stop(holder)
    per_stream = (after - before) / IDLE_STREAMS
    return {
        "streams": IDLE_STREAMS,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "kb_per_stream": round(per_stream, 2),
    }


def _idle_row(m: dict[str, Any], verdict: str) -> tuple[str, str]:
    return (
        f"RSS per idle stream at {IDLE_STREAMS:,}{verdict}",
        f"{m['kb_per_stream']:.1f} KB ({m['rss_before_kb'] / 1024:.0f} -> "
        f"{m['rss_after_kb'] / 1024:.0f} MB)",
    )


@scenario(
    "idle-bare",
    f"bare Litestar SSE (Stream over an asyncio.Queue): RSS per idle stream at {IDLE_STREAMS:,}",
    order=64,
    key="kb_per_stream",
    groups=("fanout",),
)
def idle_bare(ctx: Context) -> Result:
    m = _idle_rss(ctx, ctx.start_bare("bare-idle"))
    return Result(m, [_idle_row(m, "")])


@scenario(
    "idle-streams",
    f"direct mode, memory store: RSS growth per idle stream at {IDLE_STREAMS:,} streams",
    order=65,
    key="kb_per_stream",
    groups=("fanout",),
)
def idle_streams(ctx: Context) -> Result:
    m = _idle_rss(ctx, ctx.start_flychat("flychat-idle", "memory://"))
    m["target_kb"] = TARGET_IDLE_KB
    m["target_met"] = m["kb_per_stream"] <= TARGET_IDLE_KB
    verdict = f" (goal <= {TARGET_IDLE_KB:g} KB: {'met' if m['target_met'] else 'NOT met'})"
    return Result(m, [_idle_row(m, verdict)])


def _hold_streams(
    ctx: Context, port: int, path: str, room: str, count: int, procs: int, tag: str
) -> list[Any]:
    holders = []
    for i in range(procs):
        share = count // procs + (1 if i < count % procs else 0)
        argv = [PYTHON, "-m", "bench.subscribers", "--port", str(port), "--path", path]
        argv += ["--room", room, "--count", str(share), "--connect-timeout", "120"]
        holders.append(
            ctx.spawn(f"{tag}-holder{i}", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        )
    for holder in holders:
        line = _readline(holder, 150)
        if line != "READY":
            raise RuntimeError(f"{holder.name}: unexpected {line!r}")
    return holders
