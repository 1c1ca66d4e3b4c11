"""GRIP mode through Pushpin: delivery latency, and app CPU that stays flat as subscribers grow.

The app publishes each message once per proxy; Pushpin fans it out. Scenarios
``grip-50`` and ``grip-1000`` post at one fixed rate (``GRIP_RATE``) to the app and
stream every subscriber through Pushpin. ``python bench/grip.py`` runs both.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/grip.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.core import delivery_rows, problem_rows
from bench.delivery import _readline, _report, collect_outputs, post_at_rate
from bench.harness import MESSAGES_PATH, Context, Result, Server, scenario
from bench.procs import PYTHON, free_port, machine_busy_seconds
from flychat.entrypoints.pushpin_runner import Pushpin, pushpin_binary

GRIP_RATE = 10.0
SUBSCRIBERS_PER_PROC = 100


def measure_through_proxy(
    ctx: Context,
    app: Server,
    proxy_port: int,
    subscribers: int,
    rate: float,
    proxy_cpu: Callable[[], float],
) -> dict[str, Any]:
    """Like ``measure_delivery``, but subscriber processes connect one after another.

    A burst of hundreds of new streams at once makes Pushpin answer some of them
    500 "Accept service unavailable" or 502 on a small machine; real clients arrive
    spread out, so the streams open in groups of ``SUBSCRIBERS_PER_PROC``.
    """
    room = f"grip-{uuid.uuid4().hex[:8]}"
    seconds = ctx.options.seconds
    workers = []
    for i, start in enumerate(range(0, subscribers, SUBSCRIBERS_PER_PROC)):
        share = min(SUBSCRIBERS_PER_PROC, subscribers - start)
        argv = [PYTHON, "-m", "bench.subscribers", "--port", str(proxy_port)]
        argv += ["--path", MESSAGES_PATH, "--room", room, "--count", str(share)]
        worker = ctx.spawn(
            f"{app.name}-subscribers{i}", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        if (line := _readline(worker, 60)) != "READY":
            raise RuntimeError(f"{worker.name}: unexpected {line!r}")
        workers.append(worker)
    time.sleep(1.5)
    cpu0, proxy0 = app.cpu_seconds(), proxy_cpu()
    subs0, busy0 = sum(w.cpu_seconds() for w in workers), machine_busy_seconds()
    path = MESSAGES_PATH.replace("{room}", room)
    profiler = ctx.profile(app, seconds) if ctx.options.profile else None
    posted = asyncio.run(post_at_rate(app.host, app.port, path, rate, seconds))
    cpu1, proxy1 = app.cpu_seconds(), proxy_cpu()
    subs1, busy1 = sum(w.cpu_seconds() for w in workers), machine_busy_seconds()
    outputs = collect_outputs(ctx, workers, len(posted.stored))
    report = _report(posted, outputs, rate, seconds, subscribers, cpu1 - cpu0)
    per_1000 = (proxy1 - proxy0) / max(1, report["posted"]) * 1000
    report["pushpin_cpu_s_per_1000_msgs"] = round(per_1000, 3)
    report["pushpin_cpu_cores"] = round((proxy1 - proxy0) / seconds, 2)
    report["subscriber_procs_cpu_cores"] = round((subs1 - subs0) / seconds, 2)
    report["machine_busy_cores"] = round((busy1 - busy0) / seconds, 2)
    if profiler is not None:
        report["profile"] = ctx.profile_summary(profiler)
    return report


def grip_delivery(ctx: Context, subscribers: int, rate: float = GRIP_RATE) -> Result:
    """Post at ``rate`` to one app behind Pushpin with ``subscribers`` streams through Pushpin."""
    if pushpin_binary() is None:
        raise RuntimeError("pushpin is not installed (apt-get install pushpin)")
    pushpin = Pushpin(
        app_port=0,
        control_port=free_port(),
        workdir=ctx.workdir / f"pushpin-{subscribers}",
    )
    app = ctx.start_flychat(
        f"flychat-grip-{subscribers}",
        ctx.sqlite_url(f"grip-{subscribers}"),
        {"GRIP_URL": pushpin.grip_url, "FLYCHAT_DIRECT_STREAMING": "false"},
    )
    pushpin.app_port = app.port
    pushpin.start()
    try:
        m = measure_through_proxy(
            ctx, app, pushpin.http_port, subscribers, rate, pushpin.cpu_seconds
        )
    finally:
        if pushpin.workdir is not None and pushpin.log_path.exists():
            shutil.copy(pushpin.log_path, ctx.log_dir / f"pushpin-{subscribers}.log")
        pushpin.stop()
    m["mode"] = "grip"
    return Result(m, _rows(m))


def _rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    rows = delivery_rows(m, via=" via Pushpin")
    rows += [
        ("Pushpin CPU per 1000 messages", f"{m['pushpin_cpu_s_per_1000_msgs']} s"),
        (
            "CPU cores: app / Pushpin / subscribers / whole machine",
            f"{m['server_cpu_cores']} / {m['pushpin_cpu_cores']} / "
            f"{m['subscriber_procs_cpu_cores']} / {m['machine_busy_cores']} "
            f"of {os.cpu_count()}",
        ),
    ]
    return rows + problem_rows(m)


@scenario(
    "grip-50",
    f"GRIP mode: POST -> SSE through Pushpin, 50 subscribers, {GRIP_RATE:g} msgs/s, SQLite",
    order=60,
    key="durable_p99_ms",
)
def grip_50(ctx: Context) -> Result:
    return grip_delivery(ctx, 50)


@scenario(
    "grip-1000",
    f"GRIP mode: POST -> SSE through Pushpin, 1000 subscribers, {GRIP_RATE:g} msgs/s, SQLite",
    order=61,
    key="durable_p99_ms",
)
def grip_1000(ctx: Context) -> Result:
    return grip_delivery(ctx, 1000)


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "grip-50,grip-1000", *sys.argv[1:]]))
