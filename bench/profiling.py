"""Sampling profiles of a server under load (py-spy), summarised by layer.

With ``python -m bench --profile``, every POST-rate scenario records the server
under test with ``py-spy record --nonblocking -f raw`` during its measurement
window and adds a summary to the report; the collapsed stacks stay in the run's
log folder (open them with speedscope or flamegraph.pl). ``py-spy`` must be on
PATH or next to the Python running the harness (``.venv/bin/pip install py-spy``).

    python -m bench.profiling bench/results/<run>-logs/flychat-sqlite.collapsed
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FILE = re.compile(r"\(([^()]*?)(?::\d+)?\)$")
LAYERS = (
    ("flychat/domain/", "flychat domain"),
    ("flychat/adapters/", "flychat adapters"),
    ("flychat/entrypoints/", "flychat entrypoints"),
    ("bench/", "bench app"),
    ("litestar/", "litestar"),
    ("uvicorn/", "uvicorn + h11"),
    ("h11/", "uvicorn + h11"),
    ("sqlalchemy/", "sqlalchemy"),
    ("aiosqlite/", "aiosqlite + sqlite3 (C)"),
    ("asyncpg/", "asyncpg"),
    ("boto3/", "boto3 + botocore"),
    ("botocore/", "boto3 + botocore"),
    ("urllib3/", "urllib3 + http.client"),
    ("http/client.py", "urllib3 + http.client"),
    ("asyncio/", "asyncio loop + sockets"),
    ("selectors.py", "asyncio loop + sockets"),
    ("msgspec/", "json"),
    ("json/", "json"),
)


def py_spy() -> str | None:
    """The py-spy executable, if installed."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def layer_of(frame: str) -> str:
    """The layer a frame belongs to, from its file path."""
    match = _FILE.search(frame)
    path = match.group(1) if match else frame
    for marker, layer in LAYERS:
        if marker in path:
            return layer
    return "other (stdlib, C)"


def _name(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", frame)


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """Shares of samples: by thread, by the layer of the running frame ("self"), and
    inclusive shares of flychat's own frames and of the framework's biggest frames."""
    total = 0
    threads: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        threads["worker threads" if "Thread._bootstrap" in frames[0] else "event loop"] += samples
        layers[layer_of(frames[-1])] += samples
        for name in {_name(f) for f in frames}:
            inclusive[name] += samples
    if not total:
        return {"samples": 0}

    def share(counter: Counter[str], limit: int | None = None) -> dict[str, float]:
        return {k: round(v / total * 100, 1) for k, v in counter.most_common(limit)}

    below_root = {k: v for k, v in inclusive.items() if v < 0.6 * total}
    app = Counter({k: v for k, v in below_root.items() if layer_of(k).startswith("flychat")})
    framework = Counter({k: v for k, v in below_root.items() if k not in app})
    return {
        "samples": total,
        "threads_pct": share(threads),
        "self_by_layer_pct": share(layers),
        "app_inclusive_pct": share(app, top),
        "framework_inclusive_pct": share(framework, top),
    }


def main() -> None:
    for name in sys.argv[1:]:
        summary = summarize(Path(name))
        print(f"{name}: {summary['samples']} samples")
        for section in summary:
            if not section.endswith("_pct"):
                continue
            print(f"  {section}")
            for key, pct in summary.get(section, {}).items():
                print(f"    {pct:5.1f}%  {key}")


if __name__ == "__main__":
    main()
