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


CHECKS = [
    _ratio("post-sqlite", 0.7),
    _ratio("post-sqlite-100", 0.5),
    _ratio("post-postgres", 0.7),
    ("sse-direct", "50 subs x 200/s: CPU, p99 <= 2x bare", _fanout),
    ("fanout-1000", ">= 20,000 deliveries/s, p99 <= 100 ms", _deliveries),
    ("idle-streams", "<= 16 KB per idle stream", _idle),
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
