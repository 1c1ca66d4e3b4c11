"""Presence heartbeats beside POSTs: 32 closed-loop clients into one room, SQLite and PostgreSQL.

``python -m bench --only presence`` runs both. Each scenario starts one app on a
fresh store, measures form POSTs into one room, then heartbeats
(``POST /rooms/{room}/presence``, 32 members each beating as fast as it is answered)
into one room on the same server, and reports both rates side by side. A heartbeat
is one store write (an upsert) and one read (the member list it answers with).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/presence.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.harness import Context, Result, Server, scenario
from bench.storage import PostgresServer, postgres_database

PRESENCE_PATH = "/rooms/{room}/presence"


def _side_by_side(
    ctx: Context, server: Server, store_cpu: Any = None, store_name: str = ""
) -> Result:
    posts = ctx.post_load(server, room="bench-posts", store_cpu=store_cpu)
    beats = ctx.post_load(server, room="bench-presence", path=PRESENCE_PATH, store_cpu=store_cpu)
    failed = {
        kind: m["non_2xx"] + m["connection_errors"]
        for kind, m in (("posts", posts), ("heartbeats", beats))
    }
    metrics: dict[str, Any] = {
        "heartbeats_per_s": beats["posts_per_s"],
        "posts_per_s": posts["posts_per_s"],
        "heartbeat_to_post_ratio": round(beats["posts_per_s"] / max(posts["posts_per_s"], 1), 2),
        "heartbeats": beats,
        "posts": posts,
        "failed": failed,
    }
    rows = [
        (
            f"heartbeats/s ({beats['concurrency']} clients, one room, {beats['duration_s']:g} s)",
            f"{beats['posts_per_s']:,.0f}",
        ),
        ("POSTs/s, same server, same run", f"{posts['posts_per_s']:,.0f}"),
        ("heartbeats / POSTs", f"{metrics['heartbeat_to_post_ratio']:.2f}"),
        (
            "server CPU per heartbeat / per POST",
            f"{1000 / beats['posts_per_server_cpu_s']:.3f} ms / "
            f"{1000 / posts['posts_per_server_cpu_s']:.3f} ms",
        ),
        (
            "latency p50 / p99: heartbeats, POSTs",
            f"{beats['latency_p50_ms']} / {beats['latency_p99_ms']} ms, "
            f"{posts['latency_p50_ms']} / {posts['latency_p99_ms']} ms",
        ),
    ]
    if store_cpu is not None:
        rows.append(
            (
                f"{store_name} CPU per heartbeat / per POST",
                f"{beats['store_cpu_ms_per_post']:.3f} ms / "
                f"{posts['store_cpu_ms_per_post']:.3f} ms",
            )
        )
    if any(failed.values()):
        rows.append(("FAILED requests", str(failed)))
    return Result(metrics, rows)


@scenario(
    "presence-sqlite",
    "heartbeats/s into one room beside POSTs/s, 32 clients, a fresh SQLite file",
    order=50,
    default=False,
    key="heartbeats_per_s",
    groups=("presence",),
)
def presence_sqlite(ctx: Context) -> Result:
    server = ctx.start_flychat("flychat-presence-sqlite", ctx.sqlite_url("presence"))
    return _side_by_side(ctx, server)


@scenario(
    "presence-postgres",
    "heartbeats/s into one room beside POSTs/s, 32 clients, a fresh PostgreSQL database",
    order=51,
    default=False,
    key="heartbeats_per_s",
    groups=("presence",),
)
def presence_postgres(ctx: Context) -> Result:
    with postgres_database(ctx) as (url, name):
        server = ctx.start_flychat("flychat-presence-postgres", url)
        return _side_by_side(ctx, server, PostgresServer(name), "PostgreSQL server")


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "presence"]))
