"""Run the flychat benchmarks: ``.venv/bin/python -m bench`` (or ``python bench/run.py``).

Everything runs on loopback, in processes this command starts and stops by PID.
Writes bench/results/<timestamp>.json and bench/results/latest.json, prints a table.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.harness import (
    SUMMARIES,
    Context,
    Options,
    Scenario,
    groups,
    load_scenarios,
    plan,
    running,
)
from bench.install import VENV, installed_versions
from bench.plot import plot
from bench.procs import ROOT
from bench.profiling import py_spy

RESULTS = ROOT / "bench" / "results"
NOISY_CORES = 0.3


def _parser() -> argparse.ArgumentParser:
    defaults = Options()
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="flychat benchmarks (loopback only; bounded in time).",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME[,NAME]",
        help="run only these scenarios or groups (and what they need); repeatable",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 round, 1 s warm-up, 3 s windows, 3 s of posting",
    )
    p.add_argument(
        "--rounds",
        type=int,
        help=f"run the whole plan this many times, report the median round "
        f"(default {defaults.rounds}; 1 with --quick)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=defaults.duration,
        help="seconds measured per POST-rate scenario (default %(default)s)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=defaults.warmup,
        help="seconds of load before measuring (default %(default)s)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=defaults.concurrency,
        help="concurrent keep-alive clients (default %(default)s)",
    )
    p.add_argument(
        "--load-procs",
        type=int,
        default=defaults.load_procs,
        help="load generator processes sharing the clients (default %(default)s)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=defaults.rate,
        help="posts per second in delivery scenarios (default %(default)s)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=defaults.seconds,
        help="seconds of posting in delivery scenarios (default %(default)s)",
    )
    p.add_argument(
        "--subscribers",
        type=int,
        default=defaults.subscribers,
        help="SSE subscribers in delivery scenarios (default %(default)s)",
    )
    p.add_argument(
        "--soak-seconds",
        type=float,
        help=f"length of the soak scenario (default {defaults.soak_seconds:g}; 60 with --quick)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="record the server under test with py-spy during each POST-rate window",
    )
    p.add_argument(
        "--log-level",
        default=defaults.log_level,
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level of every server under test (default: flychat at its own default, "
        "info with its access log, as users run it; the bare app at warning, no access log; "
        "'info' here adds uvicorn's access log to the bare app)",
    )
    return p


def _options(args: argparse.Namespace) -> Options:
    if args.quick:
        args.warmup, args.duration, args.seconds = 1.0, 3.0, 3.0
        args.rounds = args.rounds or 1
        args.soak_seconds = args.soak_seconds or 60.0
    return Options(
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        load_procs=args.load_procs,
        rate=args.rate,
        seconds=args.seconds,
        subscribers=args.subscribers,
        log_level=args.log_level,
        rounds=args.rounds or Options.rounds,
        profile=args.profile,
        soak_seconds=args.soak_seconds or Options.soak_seconds,
    )


def _git() -> dict[str, Any]:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(
                ["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": out("rev-parse", "HEAD"), "dirty": bool(out("status", "--porcelain", "src"))}


def _machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for package in ("litestar", "uvicorn", "sqlalchemy", "aiosqlite", "uvloop", "httptools"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = None
    return {
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def _print_table(report: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str]] = []
    for name, entry in report["scenarios"].items():
        if entry.get("error"):
            rows.append((name, "ERROR", entry["error"].splitlines()[0][:100]))
            continue
        for label, value in entry["rows"]:
            rows.append((name, label, value))
    width = [max(len(r[i]) for r in rows) if rows else 0 for i in range(2)]
    print()
    for scenario_name, label, value in rows:
        print(f"{scenario_name:<{width[0]}}  {label:<{width[1]}}  {value}")
    print()
    for lines in report.get("summaries", []):
        print("\n".join(lines))
        print()
    others = [
        r.get("other_processes_cpu_cores", 0.0)
        for entry in report["scenarios"].values()
        for r in entry.get("rounds", [])
    ]
    if others and max(others) > NOISY_CORES:
        print(
            f"bench: other processes used up to {max(others)} cores during the POST windows: "
            "POSTs/s depend on what they left; compare 'server CPU per POST' and the ratio "
            "per server CPU second instead (docs/benchmarks.md)."
        )


def _attempt(ctx: Context, s: Scenario, failed: set[str]) -> dict[str, Any]:
    """Run one scenario once; its metrics and rows, or the error."""
    started = time.monotonic()
    attempt: dict[str, Any] = {}
    missing = [n for n in s.needs if n in failed]
    if missing:
        attempt["error"] = f"skipped: {', '.join(missing)} failed"
    else:
        try:
            with running(ctx):
                result = s.run(ctx)
            attempt.update(metrics=result.metrics, rows=result.rows)
            ctx.results[s.name] = result.metrics
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
    attempt["seconds"] = round(time.monotonic() - started, 1)
    return attempt


def _combine(s: Scenario, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """One report entry: the median round (by the scenario's key), plus every round."""
    entry: dict[str, Any] = {"description": s.description, "key": s.key}
    entry["rounds"] = [a.get("metrics", {"error": a.get("error")}) for a in attempts]
    entry["seconds"] = round(sum(a["seconds"] for a in attempts), 1)
    good = [a for a in attempts if "metrics" in a]
    if not good:
        entry["error"] = attempts[0]["error"] if attempts else "not run"
        return entry
    if s.key is not None:
        good.sort(key=lambda a: a["metrics"].get(s.key) or 0)
    chosen = good[(len(good) - 1) // 2] if s.key is not None else good[-1]
    entry["metrics"] = chosen["metrics"]
    entry["rows"] = list(chosen["rows"])
    if len(attempts) > 1 and s.key is not None:
        values = [str(a["metrics"].get(s.key)) if "metrics" in a else "error" for a in attempts]
        entry["rows"].append((f"{s.key} per round (median shown)", " / ".join(values)))
    return entry


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    missing = [m for m in ("flychat", "litestar", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"bench: {', '.join(missing)} not importable by {sys.executable}; run it with the "
            "project's environment: .venv/bin/python -m bench (scripts/setup-env dev makes it)",
            file=sys.stderr,
        )
        return 2
    scenarios = load_scenarios()
    if args.list:
        for s in sorted(scenarios.values(), key=lambda s: (s.order, s.name)):
            needs = f" (needs {', '.join(s.needs)})" if s.needs else ""
            default = "" if s.default else " [only with --only]"
            print(f"{s.name:<17} {s.description}{needs}{default}")
        for group, members in groups().items():
            print(f"group {group}: {', '.join(members)}")
        return 0
    only = [n.strip() for item in args.only or [] for n in item.split(",") if n.strip()]
    try:
        todo = plan(only or None)
    except KeyError as exc:
        print(f"bench: {exc.args[0]} (see --list)", file=sys.stderr)
        return 2
    options = _options(args)
    if options.profile and py_spy() is None:
        print("bench: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS / f"{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *(argv or sys.argv[1:])]),
        "machine": _machine(),
        "git": _git(),
        "options": asdict(options),
        "scenarios": {},
    }
    ctx = Context(options, log_dir)
    attempts: dict[str, list[dict[str, Any]]] = {s.name: [] for s in todo}
    code = 0
    try:
        for round_no in range(1, options.rounds + 1):
            ctx.results = {}
            ctx.last_bare = None
            failed: set[str] = set()
            for s in todo:
                if s.once and round_no > 1:
                    continue
                print(f"bench: round {round_no}/{options.rounds}: {s.name} ...", flush=True)
                attempt = _attempt(ctx, s, failed)
                attempts[s.name].append(attempt)
                if "error" in attempt:
                    failed.add(s.name)
                    code = 1
    except KeyboardInterrupt:
        print("bench: interrupted; stopping what it started", file=sys.stderr)
        code = 130
    finally:
        ctx.close()
        for s in todo:
            report["scenarios"][s.name] = _combine(s, attempts[s.name])
        report["summaries"] = [lines for make in SUMMARIES if (lines := make(report))]
    report["machine"]["loadavg_after"] = os.getloadavg()
    if VENV.exists():
        report["machine"]["installed_packages"] = installed_versions()
    report["logs"] = str(log_dir.relative_to(ROOT))
    text = json.dumps(report, indent=2)
    (RESULTS / f"{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    _print_table(report)
    if plotted := plot(report, RESULTS / f"{stamp}.png"):
        print(f"bench: latency plot in {plotted.relative_to(ROOT)}")
    print(f"bench: report in {(RESULTS / f'{stamp}.json').relative_to(ROOT)} (and latest.json)")
    return code


if __name__ == "__main__":
    sys.exit(main())
