"""CPU cost of the storage port's ``append``, in process, without HTTP.

Scenario ``append-cost`` (not in the default plan: ``--only append-cost``) runs
this module in a child process for SQLite and memory://, with batches of 1 and
of 16 concurrent appends (the SQL adapter commits concurrent appends to one room
as one transaction), and counts the calls that cross into aiosqlite's thread.

    python -m bench.append_cost --url sqlite:////tmp/x.db --batch 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench.harness import Context, Result, scenario
from bench.procs import PYTHON

ROUNDS = 300


def _count_thread_calls() -> Counter[str]:
    """Count aiosqlite's hand-offs to its connection thread, by function name."""
    import aiosqlite.core

    calls: Counter[str] = Counter()
    original = aiosqlite.core.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls[getattr(fn, "__name__", "call")] += 1
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    aiosqlite.core.Connection._execute = counted  # type: ignore[method-assign]
    return calls


async def _measure(url: str, batch: int) -> dict[str, Any]:
    from flychat.bootstrap import migrate_store, open_message_log
    from flychat.config import load_settings
    from flychat.domain.model import Draft, RoomId

    calls = _count_thread_calls()
    settings = load_settings({"FLYCHAT_DATABASE_URL": url})
    await migrate_store(settings)
    room = RoomId("bench")

    def draft() -> Draft:
        text = "Hello from the benchmark! This is a message about as long as a chat line."
        return Draft(str(uuid.uuid4()), "bench", text, datetime.now(UTC))

    async with open_message_log(settings) as log:
        for _ in range(20):
            await asyncio.gather(*(log.append(room, draft()) for _ in range(batch)))
        calls.clear()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(ROUNDS):
            await asyncio.gather(*(log.append(room, draft()) for _ in range(batch)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "batch": batch,
        "cpu_us_per_message": round(cpu / (ROUNDS * batch) * 1e6, 1),
        "cpu_ms_per_batch": round(cpu / ROUNDS * 1e3, 3),
        "wall_ms_per_batch": round(wall / ROUNDS * 1e3, 3),
        "thread_calls_per_batch": round(sum(calls.values()) / ROUNDS, 1),
        "thread_calls": {k: round(v / ROUNDS, 1) for k, v in calls.items()},
    }


@scenario(
    "append-cost",
    "CPU per append through the storage port, in process (SQLite vs memory, batch 1 and 16)",
    order=60,
    default=False,
)
def append_cost(ctx: Context) -> Result:
    metrics: dict[str, Any] = {}
    rows = []
    for store in ("sqlite", "memory"):
        for batch in (1, 16):
            url = ctx.sqlite_url(f"append-{batch}") if store == "sqlite" else "memory://"
            child = ctx.spawn(
                f"append-{store}-{batch}",
                [PYTHON, "-m", "bench.append_cost", "--url", url, "--batch", str(batch)],
                stdout=subprocess.PIPE,
            )
            out, _ = child.process.communicate(timeout=120)
            if child.process.returncode != 0:
                raise RuntimeError(f"{child.name} failed:\n{child.log_tail()}")
            result = json.loads(out.decode().strip().splitlines()[-1])
            ctx.stop(child)
            metrics[f"{store}-batch{batch}"] = result
            rows.append(
                (
                    f"{store}, batches of {batch}",
                    f"{result['cpu_us_per_message']} us CPU/message, "
                    f"{result['thread_calls_per_batch']} thread hand-offs/batch",
                )
            )
    return Result(metrics, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_measure(args.url, args.batch))), flush=True)


if __name__ == "__main__":
    main()
