"""Core scenarios: load-generator ceiling, bare Litestar ceiling, flychat POSTs, SSE delivery."""

from __future__ import annotations

from typing import Any

from bench.delivery import measure_delivery
from bench.harness import Context, Result, Server, scenario
from bench.procs import PYTHON, free_port, wait_http_ok

TARGET_RATIO = 0.7
"""POSTs/s into one room as a share of the bare ceiling (issue 11)."""
TARGET_RATIO_MANY_ROOMS = 0.5


def profile_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Table rows for a py-spy summary, when the run was profiled."""
    profile = metrics.get("profile", {})
    if not profile.get("self_by_layer_pct"):
        return []
    layers = list(profile["self_by_layer_pct"].items())[:6]
    return [("profile: samples by layer", ", ".join(f"{k} {v}%" for k, v in layers))]


def post_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Table rows for a POST-load result."""
    rows = [
        (
            f"POSTs/s ({metrics['concurrency']} clients, {metrics['duration_s']:g} s)",
            f"{metrics['posts_per_s']:,.0f}",
        ),
        ("server CPU per POST", f"{1000 / metrics['posts_per_server_cpu_s']:.3f} ms"),
        (
            "latency p50 / p99",
            f"{metrics['latency_p50_ms']} / {metrics['latency_p99_ms']} ms",
        ),
    ]
    if "store_cpu_cores" in metrics:
        rows += [
            (
                f"{metrics.get('store_name', 'store')} CPU per POST",
                f"{metrics['store_cpu_ms_per_post']:.3f} ms",
            ),
            (
                "CPU: server / store / load generator / others",
                f"{metrics['server_cpu_cores']} / {metrics['store_cpu_cores']} / "
                f"{sum(metrics['loadgen_cpu_cores']):.2f} / "
                f"{metrics['other_processes_cpu_cores']} cores",
            ),
        ]
    else:
        rows.append(
            (
                "CPU: server / load generator / others",
                f"{metrics['server_cpu_cores']} / {sum(metrics['loadgen_cpu_cores']):.2f} / "
                f"{metrics['other_processes_cpu_cores']} cores",
            )
        )
    rows += profile_rows(metrics)
    failed = metrics["non_2xx"] + metrics["connection_errors"]
    if failed:
        rows.append(("FAILED requests", f"{failed} {metrics['statuses']} {metrics['last_error']}"))
    return rows


def bare_window(ctx: Context, name: str) -> dict[str, Any]:
    """One POST-load window of a fresh bare app; it becomes ``ctx.last_bare``."""
    bare = ctx.start_bare(name)
    try:
        metrics = ctx.post_load(bare)
    finally:
        ctx.stop(bare.child)
    ctx.last_bare = metrics
    return metrics


def with_ratio(ctx: Context, metrics: dict[str, Any], name: str) -> Result:
    """Add the ratio to the bare ceiling measured on both sides of this window.

    The bare app's window before this one (``post-bare`` or the previous scenario's
    after-window) and a new one right after it bracket the measurement, so a machine
    that speeds up or slows down during the run moves both sides alike. The ratio to
    the round's ``post-bare`` alone is kept as ``ratio_to_round_bare``.
    """
    ctx.stop_all()
    rows = post_rows(metrics)
    before = ctx.last_bare
    if before is None:
        return Result(metrics, rows)
    after = bare_window(ctx, f"bare-after-{name}")
    ceiling = (before["posts_per_s"] + after["posts_per_s"]) / 2
    bare_per_cpu = (before["posts_per_server_cpu_s"] + after["posts_per_server_cpu_s"]) / 2
    ratio = metrics["posts_per_s"] / ceiling
    target = TARGET_RATIO if metrics.get("rooms", 1) == 1 else TARGET_RATIO_MANY_ROOMS
    round_bare = ctx.results.get("post-bare", before)["posts_per_s"]
    metrics["bare_before_posts_per_s"] = before["posts_per_s"]
    metrics["bare_after_posts_per_s"] = after["posts_per_s"]
    metrics["cpu_ratio_to_bare"] = round(metrics["posts_per_server_cpu_s"] / bare_per_cpu, 3)
    metrics["ratio_to_bare"] = round(ratio, 3)
    metrics["ratio_to_round_bare"] = round(metrics["posts_per_s"] / round_bare, 3)
    metrics["target_ratio"] = target
    metrics["target_met"] = ratio >= target
    verdict = "target met" if ratio >= target else f"below the {target} target"
    rows += [
        (
            "bare Litestar just before / just after",
            f"{before['posts_per_s']:,.0f} / {after['posts_per_s']:,.0f} POSTs/s",
        ),
        ("ratio to bare Litestar (mean of both)", f"{ratio:.2f} ({verdict})"),
        ("ratio per server CPU second", f"{metrics['cpu_ratio_to_bare']:.2f}"),
        ("ratio to this round's post-bare", f"{metrics['ratio_to_round_bare']:.2f}"),
    ]
    return Result(metrics, rows)


@scenario(
    "loadgen",
    "the load generator against a do-nothing server: the most it can send",
    order=10,
    key="posts_per_s",
)
def loadgen_ceiling(ctx: Context) -> Result:
    port = free_port()
    child = ctx.spawn("null-server", [PYTHON, "-m", "bench.null_server", "--port", str(port)])
    wait_http_ok(f"http://127.0.0.1:{port}/healthz", child)
    metrics = ctx.post_load(Server("null-server", port, child))
    return Result(metrics, post_rows(metrics))


@scenario(
    "post-bare",
    "bare Litestar endpoint that parses the same form and answers JSON (framework ceiling)",
    order=20,
    key="posts_per_s",
)
def post_bare(ctx: Context) -> Result:
    metrics = ctx.post_load(ctx.start_bare())
    ctx.last_bare = metrics
    headroom = ctx.results.get("loadgen", {}).get("posts_per_s")
    rows = post_rows(metrics)
    if headroom:
        metrics["loadgen_headroom"] = round(headroom / metrics["posts_per_s"], 2)
        rows.append(("load generator headroom", f"{metrics['loadgen_headroom']}x this rate"))
    return Result(metrics, rows)


@scenario(
    "post-sqlite",
    "flychat serve on a fresh SQLite file, direct mode: POSTs into one room",
    needs=("post-bare",),
    order=30,
    key="ratio_to_bare",
    groups=("storage",),
)
def post_sqlite(ctx: Context) -> Result:
    server = ctx.start_flychat("flychat-sqlite", ctx.sqlite_url("post"))
    return with_ratio(ctx, ctx.post_load(server), "sqlite")


@scenario(
    "post-memory",
    "flychat serve on memory:// (no storage cost): where the rest of the time goes",
    needs=("post-bare",),
    order=35,
    key="ratio_to_bare",
    groups=("storage",),
)
def post_memory(ctx: Context) -> Result:
    server = ctx.start_flychat("flychat-memory", "memory://")
    return with_ratio(ctx, ctx.post_load(server), "memory")


@scenario(
    "sse-memory",
    "POST -> SSE delivery latency, direct mode on memory:// (fan-out without storage)",
    order=55,
    key="durable_p99_ms",
    default=False,
)
def sse_memory(ctx: Context) -> Result:
    server = ctx.start_flychat("flychat-sse-memory", "memory://")
    return delivery_result(measure_delivery(ctx, server))


def delivery_rows(m: dict[str, Any], via: str = "") -> list[tuple[str, str]]:
    """The rows every delivery measurement reports (``via``: how subscribers connect)."""
    return [
        (
            f"durable p50 / p99 ({m['subscribers']} subs{via}, {m['rate_per_s']:g}/s, "
            f"{m['seconds']:g} s)",
            f"{m['durable_p50_ms']} / {m['durable_p99_ms']} ms (max {m['durable_max_ms']})",
        ),
        ("provisional p50 / p99", f"{m['provisional_p50_ms']} / {m['provisional_p99_ms']} ms"),
        ("POST answer p50 / p99", f"{m['post_p50_ms']} / {m['post_p99_ms']} ms"),
        (
            "every subscriber got every message in order",
            f"{'yes' if m['all_delivered_in_order'] else 'NO'} "
            f"({m['streams_complete_in_order']}/{m['subscribers']} streams, "
            f"{m['posted']} messages)",
        ),
        ("app CPU per 1000 messages", f"{m['server_cpu_s_per_1000_msgs']} s"),
    ]


def problem_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    """A PROBLEMS row when any stream or post went wrong."""
    if m["stream_problems"] or m["post_failures"]:
        return [("PROBLEMS", f"{m['stream_problems']} {m['post_failure_sample']}")]
    return []


def delivery_result(m: dict[str, Any]) -> Result:
    """Table rows for a delivery measurement."""
    return Result(m, delivery_rows(m) + profile_rows(m) + problem_rows(m))
