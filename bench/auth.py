"""Identity and access: POSTs with Bearer tokens against the same app with auth off."""

from __future__ import annotations

import secrets
import statistics
from typing import Any

from bench.core import post_rows
from bench.harness import Context, Result, scenario

ROUNDS = 3


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


@scenario(
    "post-auth",
    "flychat on memory:// with FLYCHAT_AUTH_SECRET and a Bearer token per connection, "
    f"against the same app with auth off (alternating, {ROUNDS} rounds each)",
    order=37,
    key="auth_cpu_ratio",
    groups=("auth",),
)
def post_auth(ctx: Context) -> Result:
    secret = secrets.token_hex(32)
    off = ctx.start_flychat("flychat-auth-off", "memory://")
    on = ctx.start_flychat("flychat-auth-on", "memory://", {"FLYCHAT_AUTH_SECRET": secret})
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for _ in range(ROUNDS):
        runs["off"].append(ctx.post_load(off))
        runs["on"].append(ctx.post_load(on, auth_secret=secret))
    failed = sum(r["non_2xx"] + r["connection_errors"] for rs in runs.values() for r in rs)
    off_rate, on_rate = _median(runs["off"], "posts_per_s"), _median(runs["on"], "posts_per_s")
    off_cpu = _median(runs["off"], "posts_per_server_cpu_s")
    on_cpu = _median(runs["on"], "posts_per_server_cpu_s")
    metrics: dict[str, Any] = {
        "rounds": ROUNDS,
        "off_posts_per_s": round(off_rate, 1),
        "on_posts_per_s": round(on_rate, 1),
        "off_cpu_ms_per_post": round(1000 / off_cpu, 4),
        "on_cpu_ms_per_post": round(1000 / on_cpu, 4),
        "auth_rate_ratio": round(on_rate / off_rate, 3),
        "auth_cpu_ratio": round(off_cpu / on_cpu, 3),
        "failed_requests": failed,
        "runs": runs,
    }
    rows = [
        (f"POSTs/s auth off / on (median of {ROUNDS})", f"{off_rate:,.0f} / {on_rate:,.0f}"),
        (
            "server CPU per POST off / on",
            f"{metrics['off_cpu_ms_per_post']:.3f} / {metrics['on_cpu_ms_per_post']:.3f} ms",
        ),
        (
            "auth on as a share of auth off",
            f"{metrics['auth_rate_ratio']:.2f} by rate, {metrics['auth_cpu_ratio']:.2f} per CPU",
        ),
        *(("last 'on' run: " + k, v) for k, v in post_rows(runs["on"][-1])[:1]),
    ]
    if failed:
        rows.append(("FAILED requests", str(failed)))
    return Result(metrics, rows)
