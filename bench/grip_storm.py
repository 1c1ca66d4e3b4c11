"""Recovery storms: 2,000 idle streams over 200 rooms behind one Pushpin, link timeout 30 s.

Pushpin fetches each held stream's next link when its link timeout passes (and
after gaps); sessions with the same link share one request. Scenario
``grip-storm`` holds the streams idle for longer than the timeout and counts the
recovery requests the app answered and its CPU for them, then posts 10 messages/s
round-robin over the rooms while the recoveries go on and checks every stream got
its room's messages in order, once, with their delivery latency.

Child mode (one process per share of the rooms)::

    python -m bench.grip_storm --port PUSHPIN --prefix storm-x --first 0 --rooms 50 --per-room 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.delivery import _readline
from bench.grip import _verdict, app_behind_pushpin
from bench.harness import MESSAGES_PATH, Context, Result, scenario
from bench.procs import PYTHON, Child
from bench.rawhttp import Connection, HttpError, form_body, post_request
from bench.stats import hist_percentile, merge, percentile, rounded
from bench.subscribers import Stream, _follow

ROOMS = 200
PER_ROOM = 10
PROCS = 4
LINK_TIMEOUT_S = 30
IDLE_S = 35.0
POST_S = 30.0
POST_RATE = 10.0
OPEN_GROUP = 50


def _count_recoveries(log: Path, offset: int) -> tuple[int, int, int]:
    """(app requests, sessions answered, new offset) of the Pushpin log after ``offset``."""
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read()
    requests = sessions = 0
    for line in text.splitlines():
        if b"?recover=true" not in line:
            continue
        if b"[zurl] IN" in line:
            requests += 1
        elif b"[handler]" in line:
            sessions += 1
    return requests, sessions, offset + len(text)


async def _post_round_robin(
    host: str, port: int, rooms: list[str], rate: float, seconds: float
) -> tuple[dict[str, int], list[float], list[str]]:
    """One sequential client posting to ``rooms`` in turn; stored count per room."""
    conn = Connection(host, port)
    stored: Counter[str] = Counter()
    latencies: list[float] = []
    failures: list[str] = []
    start = time.monotonic()
    for index in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        room = rooms[index % len(rooms)]
        sent_ns = time.monotonic_ns()
        body = form_body(
            {
                "from": "bench",
                "text": f"storm {index} {sent_ns}",
                "provisionalId": str(uuid.uuid4()),
            }
        )
        path = MESSAGES_PATH.replace("{room}", room)
        try:
            status, answer = await conn.request(post_request(host, port, path, body))
        except HttpError as exc:
            failures.append(str(exc))
            continue
        latencies.append((time.monotonic_ns() - sent_ns) / 1e6)
        if status == 200:
            stored[room] += 1
        else:
            failures.append(f"status {status}: {answer[:120]!r}")
    conn.close()
    return dict(stored), latencies, failures


def _start_children(ctx: Context, port: int, prefix: str) -> list[Child]:
    children = []
    share = ROOMS // PROCS
    for i in range(PROCS):
        argv = [PYTHON, "-m", "bench.grip_storm", "--port", str(port), "--prefix", prefix]
        argv += ["--first", str(i * share), "--rooms", str(share), "--per-room", str(PER_ROOM)]
        child = ctx.spawn(f"storm-streams{i}", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if (line := _readline(child, 120)) != "READY":
            raise RuntimeError(f"{child.name}: unexpected {line!r}")
        children.append(child)
    return children


def _stop_children(ctx: Context, children: list[Child]) -> list[dict[str, Any]]:
    outputs = []
    for child in children:
        assert child.process.stdin is not None
        child.process.stdin.write(b"STOP\n")
        child.process.stdin.flush()
    for child in children:
        out, _ = child.process.communicate(timeout=60)
        outputs.append(json.loads(out.decode().strip().splitlines()[-1]))
        ctx.stop(child)
    return outputs


@scenario(
    "grip-storm",
    f"GRIP mode: {ROOMS * PER_ROOM} idle streams over {ROOMS} rooms behind one Pushpin, "
    f"link timeout {LINK_TIMEOUT_S} s: recoveries, their app CPU, delivery meanwhile",
    order=63,
    key="recovery_requests_per_s",
    groups=("grip",),
)
def grip_storm(ctx: Context) -> Result:
    prefix = f"storm-{uuid.uuid4().hex[:6]}"
    rooms = [f"{prefix}-{i}" for i in range(ROOMS)]
    env = {"FLYCHAT_GRIP_LINK_TIMEOUT": str(LINK_TIMEOUT_S)}
    with app_behind_pushpin(ctx, "grip-storm", env) as (app, pushpin):
        children = _start_children(ctx, pushpin.http_port, prefix)
        time.sleep(2.0)
        _, _, offset = _count_recoveries(pushpin.log_path, 0)
        cpu0, pp0 = app.cpu_seconds(), pushpin.cpu_seconds()
        time.sleep(IDLE_S)
        cpu1, pp1 = app.cpu_seconds(), pushpin.cpu_seconds()
        idle_requests, idle_sessions, offset = _count_recoveries(pushpin.log_path, offset)
        stored, post_ms, failures = asyncio.run(
            _post_round_robin(app.host, app.port, rooms, POST_RATE, POST_S)
        )
        cpu2 = app.cpu_seconds()
        busy_requests, _, _ = _count_recoveries(pushpin.log_path, offset)
        time.sleep(1.0)
        outputs = _stop_children(ctx, children)
    streams = [s for o in outputs for s in o["streams"]]
    good = sum(
        1
        for s in streams
        if s["ids"] == list(range(1, stored.get(s["room"], 0) + 1)) and not s["error"]
    )
    durable = merge(o["durable_hist"] for o in outputs)
    app_cpu_idle = cpu1 - cpu0
    m: dict[str, Any] = {
        "streams": len(streams),
        "rooms": ROOMS,
        "link_timeout_s": LINK_TIMEOUT_S,
        "idle_window_s": IDLE_S,
        "recovery_requests": idle_requests,
        "recovery_sessions": idle_sessions,
        "recovery_requests_per_s": round(idle_requests / IDLE_S, 2),
        "recovery_sessions_per_s": round(idle_sessions / IDLE_S, 2),
        "app_cpu_cores_idle_window": round(app_cpu_idle / IDLE_S, 4),
        "app_cpu_ms_per_recovery_request": round(app_cpu_idle * 1000 / max(1, idle_requests), 3),
        "pushpin_cpu_cores_idle_window": round((pp1 - pp0) / IDLE_S, 3),
        "posting_window_s": POST_S,
        "posted": sum(stored.values()),
        "post_failures": failures[:3],
        "recovery_requests_while_posting": busy_requests,
        "app_cpu_ms_per_post_while_recovering": round(
            (cpu2 - cpu1) * 1000 / max(1, sum(stored.values())), 3
        ),
        "durable_events": sum(durable.values()),
        "durable_p50_ms": rounded(hist_percentile(durable, 50)),
        "durable_p99_ms": rounded(hist_percentile(durable, 99)),
        "post_p99_ms": rounded(percentile(post_ms, 99)),
        "streams_complete_in_order": good,
        "all_delivered_in_order": good == len(streams) == ROOMS * PER_ROOM and not failures,
        "stream_problems": sorted(
            {f"{s['error']!r} count={len(s['ids'])}" for s in streams if s["error"]}
        )[:5],
    }
    rows = [
        (
            f"recovery requests/s the app answered ({m['streams']} idle streams, {IDLE_S:g} s)",
            f"{m['recovery_requests_per_s']} ({m['recovery_sessions_per_s']} sessions/s)",
        ),
        (
            "app CPU per recovery request / app cores while idle",
            f"{m['app_cpu_ms_per_recovery_request']} ms / {m['app_cpu_cores_idle_window']}",
        ),
        (
            f"delivery while recovering ({POST_RATE:g} posts/s over {ROOMS} rooms): p50 / p99",
            f"{m['durable_p50_ms']} / {m['durable_p99_ms']} ms",
        ),
        (
            "every stream got its room's messages in order, once",
            f"{_verdict(m['all_delivered_in_order']).replace('met', 'yes')} "
            f"({good}/{len(streams)} streams, {m['posted']} posts)",
        ),
    ]
    if m["stream_problems"] or failures:
        rows.append(("PROBLEMS", f"{m['stream_problems']} {failures[:3]}"))
    return Result(m, rows)


async def _child(args: argparse.Namespace) -> None:
    rooms = [f"{args.prefix}-{i}" for i in range(args.first, args.first + args.rooms)]
    targets = [(room, Stream()) for room in rooms for _ in range(args.per_room)]
    tasks = []
    for start in range(0, len(targets), OPEN_GROUP):
        group = targets[start : start + OPEN_GROUP]
        opened = []
        for room, stream in group:
            where = SimpleNamespace(host="127.0.0.1", port=args.port, path=MESSAGES_PATH, room=room)
            tasks.append(asyncio.create_task(_follow(where, stream)))  # type: ignore[arg-type]
            opened.append(stream.opened.wait())
        await asyncio.wait_for(asyncio.gather(*opened), 60)
        await asyncio.sleep(0.2)
    print("READY", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    durable: dict[int, int] = {}
    for _, stream in targets:
        for key, count in stream.durable.items():
            durable[key] = durable.get(key, 0) + count
    report = [{"room": room, "ids": stream.ids, "error": stream.error} for room, stream in targets]
    print(json.dumps({"streams": report, "durable_hist": durable}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--rooms", type=int, required=True)
    parser.add_argument("--per-room", type=int, default=PER_ROOM)
    asyncio.run(_child(parser.parse_args()))


if __name__ == "__main__":
    main()
