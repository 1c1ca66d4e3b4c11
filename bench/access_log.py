"""What the access log (and the request metrics) cost a POST, side by side.

Scenario ``access-log`` (first round only) runs
``flychat serve`` on a fresh SQLite file four times in a row, each under the same
POST load: access log off (``FLYCHAT_LOG_LEVEL=warning``), on as text (``info``),
on as JSON (``info`` + ``FLYCHAT_LOG_FORMAT=json``), and log off with
``FLYCHAT_METRICS=false``, then the four again in reverse order (so a drift over
the run does not favour one); each variant's figure is the mean of its two
windows. Compare "server CPU per POST": POSTs/s follow what the other processes
on the machine leave.
"""

from __future__ import annotations

from typing import Any

from bench.core import post_rows
from bench.harness import Context, Result, scenario

VARIANTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("log-off", "access log off (warning)", {"FLYCHAT_LOG_LEVEL": "warning"}),
    ("log-text", "access log on, text (info)", {"FLYCHAT_LOG_LEVEL": "info"}),
    (
        "log-json",
        "access log on, JSON (info)",
        {"FLYCHAT_LOG_LEVEL": "info", "FLYCHAT_LOG_FORMAT": "json"},
    ),
    (
        "metrics-off",
        "access log off, FLYCHAT_METRICS=false",
        {"FLYCHAT_LOG_LEVEL": "warning", "FLYCHAT_METRICS": "false"},
    ),
)


def _cpu_ms(metrics: dict[str, Any]) -> float:
    return 1000 / float(metrics["posts_per_server_cpu_s"])


@scenario(
    "access-log",
    "POSTs on SQLite: access log off / text / JSON, and metrics off (first round only)",
    order=70,
    once=True,
    key="text_cpu_overhead_pct",
)
def access_log(ctx: Context) -> Result:
    metrics: dict[str, Any] = {}
    rows: list[tuple[str, str]] = []
    cpu_ms: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
    for name, label, env in (*VARIANTS, *reversed(VARIANTS)):
        server = ctx.start_flychat(name, ctx.sqlite_url(name), env)
        result = ctx.post_load(server)
        ctx.stop(server.child)
        cpu_ms[name].append(_cpu_ms(result))
        if name not in metrics:
            metrics[name] = result
            rows += [(f"{label}: {k}", v) for k, v in post_rows(result)[:2]]
    mean = {name: sum(values) / len(values) for name, values in cpu_ms.items()}
    metrics["cpu_ms_per_post_mean"] = {name: round(v, 4) for name, v in mean.items()}
    for key, name, label in (
        ("text_cpu_overhead_pct", "log-text", "text access log vs off"),
        ("json_cpu_overhead_pct", "log-json", "JSON access log vs off"),
        ("metrics_off_cpu_change_pct", "metrics-off", "metrics off vs on"),
    ):
        metrics[key] = round((mean[name] / mean["log-off"] - 1) * 100, 1)
        rows.append(
            (f"server CPU per POST, {label} (mean of 2 windows each)", f"{metrics[key]:+.1f} %")
        )
    return Result(metrics, rows)
