"""Identity and access: POSTs with Bearer tokens against the same app with auth off."""

from __future__ import annotations

import secrets
import statistics
from typing import Any

from bench.harness import Context, Result, scenario

ROUNDS = 3
VARIANTS = ("off", "off+header", "on")
"""auth off; auth off with the same Authorization header (ignored); auth on."""


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


@scenario(
    "post-auth",
    "flychat on memory:// with FLYCHAT_AUTH_SECRET and a Bearer token per connection, "
    f"against the same app with auth off (alternating, {ROUNDS} rounds each)",
    order=37,
    key="auth_cpu_share",
    groups=("auth",),
)
def post_auth(ctx: Context) -> Result:
    secret = secrets.token_hex(32)
    off = ctx.start_flychat("flychat-auth-off", "memory://")
    on = ctx.start_flychat("flychat-auth-on", "memory://", {"FLYCHAT_AUTH_SECRET": secret})
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for _ in range(ROUNDS):
        runs["off"].append(ctx.post_load(off))
        runs["off+header"].append(ctx.post_load(off, auth_secret=secret))
        runs["on"].append(ctx.post_load(on, auth_secret=secret))
    failed = sum(r["non_2xx"] + r["connection_errors"] for rs in runs.values() for r in rs)
    rate = {v: _median(runs[v], "posts_per_s") for v in VARIANTS}
    per_cpu = {v: _median(runs[v], "posts_per_server_cpu_s") for v in VARIANTS}
    metrics: dict[str, Any] = {
        "rounds": ROUNDS,
        **{f"{v}_posts_per_s": round(rate[v], 1) for v in VARIANTS},
        **{f"{v}_cpu_ms_per_post": round(1000 / per_cpu[v], 4) for v in VARIANTS},
        "auth_rate_share": round(rate["on"] / rate["off"], 3),
        "auth_cpu_share": round(per_cpu["on"] / per_cpu["off"], 3),
        "validation_cpu_share": round(per_cpu["on"] / per_cpu["off+header"], 3),
        "failed_requests": failed,
        "runs": runs,
    }
    rows = [
        (
            f"POSTs/s off / off+header / on (median of {ROUNDS})",
            " / ".join(f"{rate[v]:,.0f}" for v in VARIANTS),
        ),
        (
            "server CPU per POST off / off+header / on",
            " / ".join(f"{1000 / per_cpu[v]:.3f}" for v in VARIANTS) + " ms",
        ),
        (
            "auth on, as a share of auth off",
            f"{metrics['auth_rate_share']:.2f} by rate, {metrics['auth_cpu_share']:.2f} per CPU",
        ),
        (
            "validating the token, per CPU (on vs off+header)",
            f"{metrics['validation_cpu_share']:.2f}",
        ),
    ]
    if failed:
        rows.append(("FAILED requests", str(failed)))
    return Result(metrics, rows)
