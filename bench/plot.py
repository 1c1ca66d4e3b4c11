"""A PNG of the delivery latency distributions of a report (needs matplotlib, dev extra).

python -m bench.plot bench/results/latest.json   # writes latest.png beside it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.stats import bucket_ms


def _cdf(histogram: dict[str, int]) -> tuple[list[float], list[float]]:
    total = sum(histogram.values())
    xs, ys, seen = [], [], 0
    for key, count in sorted(histogram.items(), key=lambda kv: int(kv[0])):
        seen += count
        xs.append(bucket_ms(int(key)))
        ys.append(seen / total)
    return xs, ys


def plot(report: dict[str, Any], out: Path) -> Path | None:
    """Draw every delivery scenario's durable (solid) and provisional (dotted) latency CDF
    into ``out``, one colour per scenario."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(9, 5))
    drawn = scenarios = 0
    for name, entry in report["scenarios"].items():
        metrics = entry.get("metrics") or {}
        color = f"C{scenarios % 10}"
        for kind, style in (("durable_hist", "-"), ("provisional_hist", ":")):
            if metrics.get(kind):
                xs, ys = _cdf(metrics[kind])
                ax.plot(xs, ys, style, color=color, label=f"{name} {kind.split('_')[0]}")
                drawn += 1
        scenarios += any(metrics.get(kind) for kind in ("durable_hist", "provisional_hist"))
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("POST sent -> event parsed by the subscriber (ms, log scale)")
    ax.set_ylabel("share of deliveries")
    ax.set_title(f"delivery latency, {report.get('started', '')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/latest.json")
    made = plot(json.loads(source.read_text()), source.with_suffix(".png"))
    print(made or "nothing to plot (no delivery scenario, or matplotlib missing)")
