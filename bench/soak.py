"""Soak: two app processes on one SQLite file, direct streams and streams through Pushpin.

``python -m bench --only soak`` (``--soak-seconds``, default 600; e.g. 120 for a quick
run). Two ``flychat serve`` processes (A and B) share one SQLite file and publish to one
Pushpin, which routes stream requests to A. 500 direct streams: 125 on each of two
rooms held by A and two held by B (direct mode fans out within one process, so those
rooms are posted to through their own process). 200 streams through Pushpin on two
rooms that both A and B post to. 50 posts/s in all, for the whole duration. The RSS of
A, B and Pushpin (with its child processes) is sampled every minute (every quarter
of the run when shorter); at the end every stream must hold every message of its
room in order, once.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.delivery import Posted, _readline, _report, collect_outputs, post_at_rate
from bench.fanout import rss_kb
from bench.harness import MESSAGES_PATH, Context, Result, Server, scenario
from bench.procs import PYTHON, free_port
from flychat.entrypoints.pushpin_runner import Pushpin, pushpin_binary

RATE = 50.0
DIRECT_ROOMS = {"soak-a0": "A", "soak-a1": "A", "soak-b0": "B", "soak-b1": "B"}
GRIP_ROOMS = ("soak-g0", "soak-g1")
DIRECT_PER_ROOM = 125
GRIP_PER_ROOM = 100
TARGET_GROWTH = 0.10


def _tree_rss_kb(pid: int) -> int:
    """RSS of a process and all its descendants (Pushpin runs several)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += rss_kb(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, RuntimeError):
            continue
    return total


def _hold(ctx: Context, name: str, port: int, room: str, count: int) -> Any:
    argv = [PYTHON, "-m", "bench.subscribers", "--port", str(port), "--path", MESSAGES_PATH]
    argv += ["--room", room, "--count", str(count), "--connect-timeout", "120"]
    worker = ctx.spawn(name, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if (line := _readline(worker, 150)) != "READY":
        raise RuntimeError(f"{name}: unexpected {line!r}")
    return worker


async def _post_and_sample(
    posters: list[tuple[str, Server, float]],
    seconds: float,
    watched: dict[str, int],
    interval: float,
) -> tuple[dict[str, list[Posted]], dict[str, list[tuple[float, int]]]]:
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in watched}
    start = time.monotonic()

    async def sample() -> None:
        while True:
            await asyncio.sleep(interval)
            for name, pid in watched.items():
                samples[name].append((round(time.monotonic() - start), _tree_rss_kb(pid)))

    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(
        *(
            post_at_rate(server.host, server.port, MESSAGES_PATH.replace("{room}", room),
                         rate, seconds)
            for room, server, rate in posters
        )
    )  # fmt: skip
    await asyncio.sleep(0.5)
    sampler.cancel()
    by_room: dict[str, list[Posted]] = {}
    for (room, _, _), posted in zip(posters, results, strict=True):
        by_room.setdefault(room, []).append(posted)
    return by_room, samples


def _merge(parts: list[Posted]) -> Posted:
    merged = Posted()
    for part in parts:
        merged.stored.update(part.stored)
        merged.latencies.extend(part.latencies)
        merged.failures.extend(part.failures)
        merged.late_ms = max(merged.late_ms, part.late_ms)
    return merged


def _growth(samples: list[tuple[float, int]]) -> float | None:
    if len(samples) < 2:
        return None
    return round((max(kb for _, kb in samples[1:]) - samples[0][1]) / samples[0][1], 3)


@scenario(
    "soak",
    "two app processes, 500 direct + 200 Pushpin streams, 50 posts/s for --soak-seconds "
    "(first round only)",
    order=90,
    groups=("soak",),
    once=True,
)
def soak(ctx: Context) -> Result:
    if pushpin_binary() is None:
        raise RuntimeError("pushpin is not installed (apt-get install pushpin)")
    seconds = ctx.options.soak_seconds
    interval = min(60.0, seconds / 4)
    pushpin = Pushpin(
        app_port=0,
        control_port=free_port(),
        workdir=ctx.workdir / "pushpin-soak",
    )
    pushpin.push_in_port = free_port()
    url = ctx.sqlite_url("soak")
    env = {"GRIP_URL": pushpin.grip_url}
    apps = {"A": ctx.start_flychat("soak-app-a", url, env)}
    apps["B"] = ctx.start_flychat("soak-app-b", url, env)
    pushpin.app_port = apps["A"].port
    pushpin.start()
    try:
        holders: dict[str, list[Any]] = {}
        for room, owner in DIRECT_ROOMS.items():
            holders[room] = [_hold(ctx, f"soak-{room}", apps[owner].port, room, DIRECT_PER_ROOM)]
        for room in GRIP_ROOMS:
            holders[room] = [
                _hold(ctx, f"soak-{room}-{i}", pushpin.http_port, room, GRIP_PER_ROOM // 2)
                for i in range(2)
            ]
        share = RATE / (len(DIRECT_ROOMS) + len(GRIP_ROOMS))
        posters = [(room, apps[owner], share) for room, owner in DIRECT_ROOMS.items()]
        posters += [(room, apps[x], share / 2) for room in GRIP_ROOMS for x in ("A", "B")]
        watched = {"app A": apps["A"].child.pid, "app B": apps["B"].child.pid}
        assert pushpin.process is not None
        watched["pushpin"] = pushpin.process.pid
        cpu0 = {k: a.cpu_seconds() for k, a in apps.items()}
        by_room, samples = asyncio.run(_post_and_sample(posters, seconds, watched, interval))
        cpu1 = {k: a.cpu_seconds() for k, a in apps.items()}
        rooms = {}
        for room, parts in by_room.items():
            posted = _merge(parts)
            outputs = collect_outputs(ctx, holders[room], len(posted.stored))
            count = DIRECT_PER_ROOM if room in DIRECT_ROOMS else GRIP_PER_ROOM
            rate = sum(r for name, _, r in posters if name == room)
            rooms[room] = _report(posted, outputs, rate, seconds, count, 0.0)
    finally:
        if pushpin.workdir is not None and pushpin.log_path.exists():
            shutil.copy(pushpin.log_path, ctx.log_dir / "pushpin-soak.log")
        pushpin.stop()
    return _result(rooms, samples, seconds, cpu0, cpu1)


def _result(
    rooms: dict[str, dict[str, Any]],
    samples: dict[str, list[tuple[float, int]]],
    seconds: float,
    cpu0: dict[str, float],
    cpu1: dict[str, float],
) -> Result:
    growth = {name: _growth(points) for name, points in samples.items()}
    complete = all(r["all_delivered_in_order"] for r in rooms.values())
    streams = sum(r["subscribers"] for r in rooms.values())
    good = sum(r["streams_complete_in_order"] for r in rooms.values())
    posted = sum(r["posted"] for r in rooms.values())
    m: dict[str, Any] = {
        "seconds": seconds,
        "posted": posted,
        "posts_per_s": round(posted / seconds, 1),
        "streams": streams,
        "streams_complete_in_order": good,
        "all_delivered_in_order": complete,
        "rss_samples_kb": samples,
        "rss_growth_after_first_sample": growth,
        "app_cpu_cores": {k: round((cpu1[k] - cpu0[k]) / seconds, 3) for k in cpu0},
        "rooms": rooms,
        "target_met": complete
        and all(g is not None and g <= TARGET_GROWTH for g in growth.values()),
    }
    rows = [
        (
            f"every stream got every message in order once ({seconds:g} s)",
            f"{'yes' if complete else 'NO'} ({good}/{streams} streams, {posted} messages, "
            f"{m['posts_per_s']}/s)",
        ),
        (
            "durable p99 direct / through Pushpin",
            " / ".join(
                str(
                    max(
                        r["durable_p99_ms"] or 0
                        for k, r in rooms.items()
                        if (k in DIRECT_ROOMS) is d
                    )
                )
                for d in (True, False)
            )
            + " ms (worst room)",
        ),
    ]
    for name, points in samples.items():
        series = ", ".join(f"{kb / 1024:.0f}" for _, kb in points)
        rows.append((f"RSS of {name} each sample (MB)", f"{series} (growth {growth[name]})"))
    problems = [
        f"{k}: {r['stream_problems'][:2]}" for k, r in rooms.items() if r["stream_problems"]
    ]
    if problems:
        rows.append(("PROBLEMS", "; ".join(problems)))
    return Result(m, rows)
