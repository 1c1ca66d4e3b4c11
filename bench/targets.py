"""One table of the issue-11 targets, read from the finished report."""

from __future__ import annotations

from typing import Any

from bench.harness import summary


def _ratio(name: str, target: float) -> Any:
    def check(m: dict[str, Any]) -> tuple[str, bool] | None:
        if "ratio_to_bare" not in m:
            return None
        figure = f"{m['ratio_to_bare']:.2f} of bare ({m.get('cpu_ratio_to_bare', 0):.2f} per CPU s)"
        return figure, m["ratio_to_bare"] >= target

    return name, f"POSTs/s >= {target} of bare", check


def _fanout(m: dict[str, Any]) -> tuple[str, bool] | None:
    if "cpu_ratio_to_bare" not in m:
        return None
    met = m["targets_met"]
    figure = (
        f"CPU {m['cpu_ratio_to_bare']:.2f}x, p99 {m['p99_ratio_to_bare']:.2f}x, "
        f"rate kept {m['rate_kept']:.0%}"
    )
    return figure, all(met.values())


def _deliveries(m: dict[str, Any]) -> tuple[str, bool] | None:
    return f"{m['deliveries_per_s']:,.0f}/s, p99 {m['durable_p99_ms']} ms", m["target_met"]


def _idle(m: dict[str, Any]) -> tuple[str, bool] | None:
    return f"{m['kb_per_stream']:.1f} KB", m["target_met"]


def _soak(m: dict[str, Any]) -> tuple[str, bool] | None:
    growth = ", ".join(f"{k} {v}" for k, v in m["rss_growth_after_first_sample"].items())
    delivered = "all in order" if m["all_delivered_in_order"] else "NOT all in order"
    return f"{delivered}; RSS growth {growth}", m["target_met"]


def _grip(m: dict[str, Any]) -> tuple[str, bool] | None:
    targets = m.get("targets")
    if not targets:
        return None
    gap = (m.get("durable_p50_ms") or 0) - (m.get("provisional_p50_ms") or 0)
    figure = (
        f"CPU {m['app_cpu_ms_per_msg']} ms/msg, durable p99 {m['durable_p99_ms']} ms, "
        f"p50 gap {gap:.1f} ms, provisional first {m['provisional_first_pct']}%, "
        f"lead p50 {m.get('probe_provisional_lead_p50_ms')} vs append {m.get('store_append_ms')} ms"
    )
    return figure, all(targets.values())


def _grip_seq(m: dict[str, Any]) -> tuple[str, bool] | None:
    lost = "nothing lost" if m["all_delivered_in_order"] else "NOT all delivered in order"
    return f"{m['posts_per_s']:g} posts/s, {lost}", m["target_met"]


def _lead(m: dict[str, Any]) -> tuple[str, bool] | None:
    parts, met = [], True
    for store, label in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        if f"{store}_targets" not in m:
            continue
        parts.append(
            f"{label} published {m[f'{store}_published_lead_p50_ms']} / at the stream "
            f"{m[f'{store}_provisional_lead_p50_ms']} vs append {m[f'{store}_store_append_ms']} ms"
        )
        met = met and m[f"{store}_targets"]["subscriber_lead_covers_append"]
    return ("; ".join(parts), met) if parts else None


def _storm(m: dict[str, Any]) -> tuple[str, bool] | None:
    figure = (
        f"{m['recovery_requests_per_s']} recoveries/s, "
        f"{m['app_cpu_ms_per_recovery_request']} ms app CPU each, "
        f"delivery p99 meanwhile {m['durable_p99_ms']} ms"
    )
    return figure, bool(m["all_delivered_in_order"])


def _access_log(m: dict[str, Any]) -> tuple[str, bool] | None:
    figure = (
        f"text {m['text_cpu_overhead_pct']:+.1f}%, JSON {m['json_cpu_overhead_pct']:+.1f}%, "
        f"metrics off {m['metrics_off_cpu_change_pct']:+.1f}% CPU per POST"
    )
    return figure, m["text_cpu_overhead_pct"] <= ACCESS_LOG_BUDGET_PCT


ACCESS_LOG_BUDGET_PCT = 10.0

CHECKS = [
    _ratio("post-sqlite", 0.7),
    _ratio("post-sqlite-100", 0.5),
    _ratio("post-postgres", 0.7),
    ("sse-direct", "50 subs x 200/s: CPU, p99 <= 2x bare", _fanout),
    ("fanout-1000", ">= 20,000 deliveries/s, p99 <= 100 ms", _deliveries),
    ("idle-streams", "<= 16 KB per idle stream", _idle),
    ("grip-50", "<= 1.5 ms/msg, p99 <= 25 ms, provisional first", _grip),
    ("grip-50-http", "the same, publishing over HTTP (no target)", _grip),
    ("grip-lead", "provisional lead at the stream >= append", _lead),
    ("grip-seq", ">= 300 posts/s sequential, nothing lost", _grip_seq),
    ("grip-storm", "recoveries answered cheaply, all delivered", _storm),
    ("access-log", f"text access log <= +{ACCESS_LOG_BUDGET_PCT:g}% CPU", _access_log),
    ("soak", "all delivered, RSS growth <= 10%", _soak),
]


@summary
def targets(report: dict[str, Any]) -> list[str]:
    """The issue-11 targets this run measured: figure and verdict."""
    lines = []
    for name, goal, check in CHECKS:
        entry = report["scenarios"].get(name)
        if not entry or "metrics" not in entry:
            continue
        found = check(entry["metrics"])
        if found is None:
            continue
        figure, met = found
        lines.append(f"  {name:<16} {goal:<40} {figure}  [{'met' if met else 'NOT met'}]")
    return ["targets (issue 11):", *lines] if lines else []
