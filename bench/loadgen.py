"""Closed-loop POST load generator: one process, N keep-alive connections.

Run by the harness as ``python -m bench.loadgen ...``; several processes can share
one measurement window (``--start-at`` is a wall-clock time). Prints one JSON line.
Each request is a browser-like form POST with a fresh UUID ``provisionalId``; with
``--auth-secret`` each connection sends its own HS256 token as ``Authorization: Bearer``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field

import jwt

from bench.rawhttp import Connection, HttpError, form_body, post_request

TEXT = "Hello from the benchmark! This is message {seq}, about as long as a chat line."


def _path(template: str, room: str) -> str:
    return template.replace("{room}", room)


@dataclass
class Stats:
    """What the workers of this process saw inside the measurement window."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    last_error: str = ""


async def _worker(
    index: int,
    args: argparse.Namespace,
    rooms: list[str],
    window: tuple[float, float],
    stats: Stats,
) -> None:
    conn = Connection(args.host, args.port)
    start, end = window
    seq = 0
    extra: tuple[tuple[str, str], ...] = ()
    if args.auth_secret:
        claims = {
            "sub": f"bench-{args.tag}-{index}",
            "exp": int(time.time()) + 3600,
            "rooms": {"read": ["*"], "post": ["*"]},
        }
        extra = (("Authorization", f"Bearer {jwt.encode(claims, args.auth_secret)}"),)
    try:
        while time.monotonic() < end:
            room = rooms[(index + seq * args.concurrency) % len(rooms)]
            body = form_body(
                {
                    "from": f"bench-{args.tag}-{index}",
                    "text": TEXT.format(seq=seq),
                    "provisionalId": str(uuid.uuid4()),
                }
            )
            raw = post_request(args.host, args.port, _path(args.path, room), body, extra=extra)
            seq += 1
            sent = time.monotonic()
            try:
                status, _ = await conn.request(raw)
            except HttpError as exc:
                stats.errors += 1
                stats.last_error = str(exc)
                await asyncio.sleep(0.01)
                continue
            done = time.monotonic()
            if start <= done < end:
                key = str(status)
                stats.statuses[key] = stats.statuses.get(key, 0) + 1
                if 200 <= status < 300:
                    stats.latencies.append(done - sent)
    finally:
        conn.close()


async def _main(args: argparse.Namespace) -> dict[str, object]:
    rooms = [args.room] if args.rooms == 1 else [f"{args.room}-{i}" for i in range(args.rooms)]
    delay = args.start_at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    t0 = time.monotonic()
    window = (t0 + args.warmup, t0 + args.warmup + args.duration)
    stats = Stats()
    await asyncio.gather(*(_worker(i, args, rooms, window, stats) for i in range(args.concurrency)))
    return {
        "ok": len(stats.latencies),
        "statuses": stats.statuses,
        "errors": stats.errors,
        "last_error": stats.last_error,
        "duration": args.duration,
        "latencies_ms": [round(x * 1000, 3) for x in stats.latencies],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/rooms/{room}/messages/")
    parser.add_argument("--room", default="bench")
    parser.add_argument("--rooms", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--start-at", type=float, default=0.0, help="wall-clock start time")
    parser.add_argument("--tag", default="0")
    parser.add_argument("--auth-secret", default="", help="sign a Bearer token per connection")
    args = parser.parse_args()
    result = asyncio.run(_main(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
