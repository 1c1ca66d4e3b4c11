"""GRIP mode through Pushpin: delivery latency, app CPU per message, provisional first,
and one sequential publisher at full speed.

The app publishes each event once per proxy (over Pushpin's ZeroMQ input, as
``flychat stack`` does); Pushpin fans it out. ``grip-50`` and ``grip-1000`` post at one
fixed rate (``GRIP_RATE``) to the app and stream every subscriber through Pushpin;
``grip-seq`` posts through Pushpin from one sequential client asking for
``SEQ_RATE``/s; ``grip-storm`` (bench/grip_storm.py) holds 2,000 idle streams through
the link timeouts. ``python bench/grip.py`` (or ``--only grip``) runs them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/grip.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.core import delivery_rows, problem_rows, profile_rows
from bench.delivery import Posted, _readline, _report, collect_outputs, post_at_rate, post_one
from bench.harness import MESSAGES_PATH, Context, Result, Server, scenario
from bench.procs import PYTHON, Child, free_port, machine_busy_seconds
from bench.rawhttp import Connection
from bench.stats import hist_percentile, merge, percentile, rounded
from flychat.entrypoints.pushpin_runner import Pushpin, pushpin_binary

GRIP_RATE = 10.0
SEQ_RATE = 400.0
CEILING_ASK_RATE = 2000.0
SEQ_SUBSCRIBERS = 10
SUBSCRIBERS_PER_PROC = 100
TARGET_CPU_MS = 1.5
TARGET_DURABLE_P99_MS = 25.0
TARGET_P50_GAP_MS = 3.0
TARGET_PROVISIONAL_FIRST_PCT = 99.0
TARGET_SEQ_RATE = 300.0


def new_pushpin(ctx: Context, name: str, app_port: int) -> Pushpin:
    """A Pushpin (not started yet) routing to ``app_port``, its files under the bench's workdir."""
    if pushpin_binary() is None:
        raise RuntimeError("pushpin is not installed (apt-get install pushpin)")
    workdir = ctx.workdir / f"pp-{name}"
    pushpin = Pushpin(app_port=app_port, control_port=free_port(), workdir=workdir)
    pushpin.push_in_port = free_port()
    return pushpin


@contextmanager
def app_behind_pushpin(
    ctx: Context, name: str, env: dict[str, str] | None = None, *, http: bool = False
) -> Iterator[tuple[Server, Pushpin]]:
    """A flychat (SQLite, direct streaming off) behind a fresh Pushpin; its log kept.

    The app publishes over Pushpin's ZeroMQ input, or with ``http`` through
    ``POST /publish/`` on its control port (how any non-local proxy is reached).
    """
    pushpin = new_pushpin(ctx, name, 0)
    grip_url = pushpin.http_grip_url if http else pushpin.grip_url
    settings = {"GRIP_URL": grip_url, "FLYCHAT_DIRECT_STREAMING": "false", **(env or {})}
    app = ctx.start_flychat(f"flychat-{name}", ctx.sqlite_url(name), settings)
    pushpin.app_port = app.port
    with running(ctx, name, pushpin):
        yield app, pushpin


@contextmanager
def running(ctx: Context, name: str, pushpin: Pushpin) -> Iterator[Pushpin]:
    """Start ``pushpin``, wait until streams open through it, stop it (keeping its log)."""
    pushpin.start()
    try:
        wait_until_streams_open(pushpin.http_port)
        yield pushpin
    finally:
        if pushpin.workdir is not None and pushpin.log_path.exists():
            shutil.copy(pushpin.log_path, ctx.log_dir / f"pushpin-{name}.log")
        pushpin.stop()


def bare_through_pushpin(ctx: Context, rate: float, seconds: float) -> float:
    """POSTs/s one sequential client gets through a fresh Pushpin to the bare Litestar app.

    Nothing is published and nothing streams: the proxy's own round trip, the ceiling of
    ``grip-seq`` on this machine.
    """
    bare = ctx.start_bare("bare-behind-pushpin")
    try:
        with running(ctx, "grip-seq-bare", new_pushpin(ctx, "grip-seq-bare", bare.port)) as pushpin:
            path = MESSAGES_PATH.replace("{room}", "bare")
            posted, wall = asyncio.run(
                post_sequentially(bare.host, pushpin.http_port, path, rate, seconds)
            )
            return len(posted.stored) / wall
    finally:
        ctx.stop(bare.child)


def wait_until_streams_open(port: int, timeout: float = 15.0) -> None:
    """Wait until a stream through Pushpin opens (200).

    Pushpin listens before its proxy has reached its handler; streams opened in
    that window are answered ``500 Accept service unavailable``.
    """
    request = (
        f"GET /rooms/bench-probe/messages/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\nConnection: close\r\n\r\n"
    ).encode()
    deadline = time.monotonic() + timeout
    status = b""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(request)
                status = sock.recv(64).split(b"\r\n", 1)[0]
        except OSError as exc:
            status = str(exc).encode()
        if status.startswith(b"HTTP/1.1 200"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"no stream opened through Pushpin in {timeout:g} s: {status!r}")


def start_subscribers(
    ctx: Context, name: str, port: int, room: str, subscribers: int
) -> list[Child]:
    """Subscriber processes streaming ``room`` through ``port``, started one after another.

    A burst of hundreds of new streams at once makes Pushpin answer some of them
    500 "Accept service unavailable" or 502 on a small machine; real clients arrive
    spread out, so the streams open in groups of ``SUBSCRIBERS_PER_PROC``.
    """
    workers = []
    for i, start in enumerate(range(0, subscribers, SUBSCRIBERS_PER_PROC)):
        share = min(SUBSCRIBERS_PER_PROC, subscribers - start)
        argv = [PYTHON, "-m", "bench.subscribers", "--port", str(port)]
        argv += ["--path", MESSAGES_PATH, "--room", room, "--count", str(share)]
        worker = ctx.spawn(
            f"{name}-subscribers{i}", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        if (line := _readline(worker, 60)) != "READY":
            raise RuntimeError(f"{worker.name}: unexpected {line!r}")
        workers.append(worker)
    time.sleep(1.5)  # Pushpin recovers every session once ~1 s after a channel's first one
    return workers


def order_figures(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the provisional event arrived before the durable one, and by how much."""
    first = sum(o.get("provisional_first", 0) for o in outputs)
    later = sum(o.get("durable_first", 0) for o in outputs)
    lead = merge(o.get("provisional_lead_hist", {}) for o in outputs)
    return {
        "provisional_first_pct": round(100 * first / max(1, first + later), 2),
        "durable_first_events": later,
        "provisional_lead_p1_ms": rounded(hist_percentile(lead, 1)),
        "provisional_lead_p50_ms": rounded(hist_percentile(lead, 50)),
    }


def append_time_ms(ctx: Context, url: str | None = None) -> float:
    """Median wall time of one append through the storage port (bench/append_cost.py), on
    ``url`` or a fresh SQLite file."""
    url = url or ctx.sqlite_url("append-time")
    child = ctx.spawn(
        "append-time",
        [PYTHON, "-m", "bench.append_cost", "--url", url, "--batch", "1"],
        stdout=subprocess.PIPE,
    )
    out, _ = child.process.communicate(timeout=120)
    ctx.stop(child)
    return float(json.loads(out.decode().strip().splitlines()[-1])["wall_ms_per_batch"])


def measure_through_proxy(
    ctx: Context,
    app: Server,
    proxy_port: int,
    subscribers: int,
    rate: float,
    proxy_cpu: Callable[[], float],
) -> dict[str, Any]:
    """Like ``measure_delivery``, with the subscribers on Pushpin's port and Pushpin's CPU.

    One more stream, alone in its process (the probe), times how far the provisional
    event leads the durable one: in a process reading 100 streams both events of a
    message are often already buffered together when it gets to that stream.
    """
    room = f"grip-{uuid.uuid4().hex[:8]}"
    seconds = ctx.options.seconds
    workers = start_subscribers(ctx, app.name, proxy_port, room, subscribers)
    probe = start_subscribers(ctx, f"{app.name}-probe", proxy_port, room, 1)
    cpu0, proxy0 = app.cpu_seconds(), proxy_cpu()
    subs0, busy0 = sum(w.cpu_seconds() for w in workers), machine_busy_seconds()
    path = MESSAGES_PATH.replace("{room}", room)
    profiler = ctx.profile(app, seconds) if ctx.options.profile else None
    posted = asyncio.run(post_at_rate(app.host, app.port, path, rate, seconds))
    cpu1, proxy1 = app.cpu_seconds(), proxy_cpu()
    subs1, busy1 = sum(w.cpu_seconds() for w in workers), machine_busy_seconds()
    *outputs, probed = collect_outputs(ctx, workers + probe, len(posted.stored))
    report = _report(posted, outputs, rate, seconds, subscribers, cpu1 - cpu0)
    report.update(order_figures(outputs))
    report.update({f"probe_{k}": v for k, v in order_figures([probed]).items()})
    per_1000 = (proxy1 - proxy0) / max(1, report["posted"]) * 1000
    report["pushpin_cpu_s_per_1000_msgs"] = round(per_1000, 3)
    report["pushpin_cpu_cores"] = round((proxy1 - proxy0) / seconds, 2)
    report["subscriber_procs_cpu_cores"] = round((subs1 - subs0) / seconds, 2)
    report["machine_busy_cores"] = round((busy1 - busy0) / seconds, 2)
    if profiler is not None:
        report["profile"] = ctx.profile_summary(profiler)
    return report


def cpu_ms_per_post_at_rate(ctx: Context, server: Server, rate: float) -> float:
    """CPU per POST of ``server`` posted straight at ``rate`` for the scenario's seconds; stops it.

    At a few POSTs a second every request meets cold caches, so this machine's floor
    for one request is several times its cost under load; it is measured beside the
    GRIP figure so the two can be compared in one run.
    """
    try:
        before = server.cpu_seconds()
        path = MESSAGES_PATH.replace("{room}", "lone")
        posted = asyncio.run(
            post_at_rate(server.host, server.port, path, rate, ctx.options.seconds)
        )
        return (server.cpu_seconds() - before) / max(1, len(posted.stored)) * 1000
    finally:
        ctx.stop(server.child)


def lone_post_costs(ctx: Context, rate: float) -> dict[str, float]:
    """CPU per POST at ``rate`` straight to bare Litestar and to flychat in direct mode on
    ``memory://`` and on SQLite: what the GRIP figure's POST costs without the proxy."""
    return {
        "bare_cpu_ms_per_post_same_rate": cpu_ms_per_post_at_rate(
            ctx, ctx.start_bare("bare-at-grip-rate"), rate
        ),
        "direct_memory_cpu_ms_per_post_same_rate": cpu_ms_per_post_at_rate(
            ctx, ctx.start_flychat("memory-at-grip-rate", "memory://"), rate
        ),
        "direct_sqlite_cpu_ms_per_post_same_rate": cpu_ms_per_post_at_rate(
            ctx, ctx.start_flychat("sqlite-at-grip-rate", ctx.sqlite_url("at-grip-rate")), rate
        ),
    }


def grip_delivery(
    ctx: Context, subscribers: int, rate: float = GRIP_RATE, *, http: bool = False
) -> Result:
    """Post at ``rate`` to one app behind Pushpin with ``subscribers`` streams through Pushpin."""
    name = f"grip-{subscribers}" + ("-http" if http else "")
    with app_behind_pushpin(ctx, name, http=http) as (app, pushpin):
        m = measure_through_proxy(
            ctx, app, pushpin.http_port, subscribers, rate, pushpin.cpu_seconds
        )
    m["mode"] = "grip"
    m["transport"] = "http" if http else "zmq"
    m["app_cpu_ms_per_msg"] = round(m["server_cpu_s_per_1000_msgs"], 3)
    m["store_append_ms"] = round(append_time_ms(ctx), 3)
    m.update({key: round(ms, 3) for key, ms in lone_post_costs(ctx, rate).items()})
    return Result(m, _rows(m))


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def _rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    rows = delivery_rows(m, via=" via Pushpin")
    cpu, p99 = m["app_cpu_ms_per_msg"], m["durable_p99_ms"]
    gap = (m["durable_p50_ms"] or 0) - (m["provisional_p50_ms"] or 0)
    first, lead = m["provisional_first_pct"], m["probe_provisional_lead_p50_ms"]
    m["targets"] = {
        "app_cpu_ms_per_msg": cpu <= TARGET_CPU_MS,
        "durable_p99_ms": p99 is not None and p99 <= TARGET_DURABLE_P99_MS,
        "durable_p50_within_of_provisional": gap <= TARGET_P50_GAP_MS,
        "provisional_first_pct": first >= TARGET_PROVISIONAL_FIRST_PCT,
        "provisional_lead_covers_append": lead is not None and lead >= m["store_append_ms"],
    }
    t = m["targets"]
    rows += [
        (
            f"app CPU per message (target <= {TARGET_CPU_MS} ms)",
            f"{cpu} ms ({_verdict(t['app_cpu_ms_per_msg'])})",
        ),
        (
            f"durable p99 (target <= {TARGET_DURABLE_P99_MS:g} ms); p50 - provisional p50 "
            f"(target <= {TARGET_P50_GAP_MS:g} ms)",
            f"{p99} ms ({_verdict(t['durable_p99_ms'])}); {gap:.2f} ms "
            f"({_verdict(t['durable_p50_within_of_provisional'])})",
        ),
        (
            f"provisional first (target >= {TARGET_PROVISIONAL_FIRST_PCT:g}%)",
            f"{first}% of {m['durable_events']} ({_verdict(t['provisional_first_pct'])})",
        ),
        (
            "provisional lead over durable, probe stream p50 / p1 vs SQLite append time",
            f"{lead} / {m['probe_provisional_lead_p1_ms']} ms vs {m['store_append_ms']} ms "
            f"({_verdict(t['provisional_lead_covers_append'])} at p50; probe provisional "
            f"first {m['probe_provisional_first_pct']}%)",
        ),
        (
            "bare Litestar CPU per POST at the same rate (no proxy, no store)",
            f"{m['bare_cpu_ms_per_post_same_rate']} ms "
            f"(flychat {cpu / max(1e-9, m['bare_cpu_ms_per_post_same_rate']):.2f}x)",
        ),
        (
            "flychat direct (no proxy) CPU per POST at the same rate: memory:// / SQLite",
            f"{m['direct_memory_cpu_ms_per_post_same_rate']} / "
            f"{m['direct_sqlite_cpu_ms_per_post_same_rate']} ms",
        ),
        ("Pushpin CPU per 1000 messages", f"{m['pushpin_cpu_s_per_1000_msgs']} s"),
        (
            "CPU cores: app / Pushpin / subscribers / whole machine",
            f"{m['server_cpu_cores']} / {m['pushpin_cpu_cores']} / "
            f"{m['subscriber_procs_cpu_cores']} / {m['machine_busy_cores']} "
            f"of {os.cpu_count()}",
        ),
    ]
    return rows + profile_rows(m) + problem_rows(m)


async def post_sequentially(
    host: str, port: int, path: str, rate: float, seconds: float
) -> tuple[Posted, float]:
    """One connection, one POST at a time, each sent at its slot or as soon as the last
    answered (so a slow answer lowers the rate instead of piling requests up).

    Returns what was posted and the seconds it took.
    """
    count = max(1, int(rate * seconds))
    posted = Posted()
    conn = Connection(host, port)
    start = time.monotonic()
    for index in range(count):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            posted.late_ms = max(posted.late_ms, -delay * 1000)
        await post_one(conn, path, f"seq {index}", index, posted)
    conn.close()
    return posted, time.monotonic() - start


@scenario(
    "grip-seq",
    f"GRIP mode: one sequential client POSTing through Pushpin, asking {SEQ_RATE:g}/s, "
    f"{SEQ_SUBSCRIBERS} subscribers, SQLite",
    order=62,
    key="posts_per_s",
    groups=("grip",),
)
def grip_seq(ctx: Context) -> Result:
    seconds = ctx.options.seconds
    with app_behind_pushpin(ctx, "grip-seq") as (app, pushpin):
        room = f"seq-{uuid.uuid4().hex[:8]}"
        workers = start_subscribers(ctx, "grip-seq", pushpin.http_port, room, SEQ_SUBSCRIBERS)
        cpu0, proxy0 = app.cpu_seconds(), pushpin.cpu_seconds()
        path = MESSAGES_PATH.replace("{room}", room)
        posted, wall = asyncio.run(
            post_sequentially(app.host, pushpin.http_port, path, SEQ_RATE, seconds)
        )
        cpu, proxy_cpu = app.cpu_seconds() - cpu0, pushpin.cpu_seconds() - proxy0
        outputs = collect_outputs(ctx, workers, len(posted.stored))
        direct_path = MESSAGES_PATH.replace("{room}", f"{room}-direct")
        direct, direct_wall = asyncio.run(
            post_sequentially(app.host, app.port, direct_path, SEQ_RATE, seconds / 2)
        )
    m = _report(posted, outputs, SEQ_RATE, seconds, SEQ_SUBSCRIBERS, cpu)
    m["posts_per_s"] = round(len(posted.stored) / wall, 1)
    m["app_cpu_ms_per_msg"] = m["server_cpu_s_per_1000_msgs"]
    m["pushpin_cpu_ms_per_msg"] = round(proxy_cpu / max(1, len(posted.stored)) * 1000, 3)
    m["direct_posts_per_s"] = round(len(direct.stored) / direct_wall, 1)
    m["direct_post_p50_ms"] = rounded(percentile(direct.latencies, 50))
    m["bare_through_pushpin_posts_per_s"] = round(
        bare_through_pushpin(ctx, CEILING_ASK_RATE, seconds / 2), 1
    )
    m["ratio_to_bare_through_pushpin"] = round(
        m["posts_per_s"] / max(1.0, m["bare_through_pushpin_posts_per_s"]), 2
    )
    m["target_met"] = m["posts_per_s"] >= TARGET_SEQ_RATE and m["all_delivered_in_order"]
    rows = [
        (
            f"posts/s through Pushpin, one sequential client (target >= {TARGET_SEQ_RATE:g}, "
            "nothing lost)",
            f"{m['posts_per_s']:g} ({_verdict(m['target_met'])})",
        ),
        ("POST answer p50 / p99 (through Pushpin)", f"{m['post_p50_ms']} / {m['post_p99_ms']} ms"),
        ("durable p50 / p99", f"{m['durable_p50_ms']} / {m['durable_p99_ms']} ms"),
        (
            "every subscriber got every message in order",
            f"{'yes' if m['all_delivered_in_order'] else 'NO'} "
            f"({m['streams_complete_in_order']}/{SEQ_SUBSCRIBERS} streams, {m['posted']} messages)",
        ),
        ("app CPU per message", f"{m['app_cpu_ms_per_msg']} ms"),
        (
            "Pushpin CPU per message (proxying the POST, fanning out both events)",
            f"{m['pushpin_cpu_ms_per_msg']} ms",
        ),
        (
            f"same client straight to the app (no Pushpin, no subscribers), asking {SEQ_RATE:g}/s",
            f"{m['direct_posts_per_s']:g} posts/s, POST p50 {m['direct_post_p50_ms']} ms",
        ),
        (
            "same client through Pushpin to bare Litestar (nothing published, no subscribers), "
            f"asking {CEILING_ASK_RATE:g}/s: the proxy's ceiling",
            f"{m['bare_through_pushpin_posts_per_s']:g} posts/s "
            f"(flychat {m['ratio_to_bare_through_pushpin']:g} of it)",
        ),
    ]
    return Result(m, rows + problem_rows(m))


@scenario(
    "grip-50",
    f"GRIP mode: POST -> SSE through Pushpin, 50 subscribers, {GRIP_RATE:g} msgs/s, SQLite",
    order=60,
    key="durable_p99_ms",
    groups=("grip",),
)
def grip_50(ctx: Context) -> Result:
    return grip_delivery(ctx, 50)


@scenario(
    "grip-50-http",
    "GRIP mode as grip-50, the app publishing through Pushpin's HTTP control port "
    "(as to any non-local proxy)",
    order=60,
    key="durable_p99_ms",
    groups=("grip",),
)
def grip_50_http(ctx: Context) -> Result:
    return grip_delivery(ctx, 50, http=True)


@scenario(
    "grip-1000",
    f"GRIP mode: POST -> SSE through Pushpin, 1000 subscribers, {GRIP_RATE:g} msgs/s, SQLite",
    order=61,
    key="durable_p99_ms",
    groups=("grip",),
)
def grip_1000(ctx: Context) -> Result:
    return grip_delivery(ctx, 1000)


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "grip", *sys.argv[1:]]))
