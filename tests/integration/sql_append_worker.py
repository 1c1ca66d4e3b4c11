"""A separate OS process appending to rooms through the SQL adapter.

Usage: python -m tests.integration.sql_append_worker URL ROOMS COUNT PREFIX START_AT TASKS
Appends COUNT messages from TASKS concurrent tasks, starting at wall-clock START_AT,
message n to the (n mod len)-th of the comma-separated ROOMS, and prints
``{"ids": [...], "rooms": [...]}`` (each id with its room) as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime

from flychat.adapters.sql.log import open_sql_log
from flychat.domain.model import Draft, RoomId, to_millis


async def write(url: str, rooms: str, count: int, prefix: str, start_at: float, tasks: int) -> None:
    """Append ``count`` messages over ``rooms`` with ``tasks`` concurrent appenders."""
    names = rooms.split(",")
    ids: list[int] = []
    placed: list[str] = []
    numbers = iter(range(count))
    async with open_sql_log(url, retention=1_000_000) as log:
        await asyncio.sleep(max(0.0, start_at - time.time()))

        async def appender() -> None:
            for n in numbers:
                draft = Draft(
                    f"{prefix}-{n:08d}", prefix, f"message {n}", to_millis(datetime.now(UTC))
                )
                room = names[n % len(names)]
                ids.append((await log.append(RoomId(room), draft)).id)
                placed.append(room)

        await asyncio.gather(*(appender() for _ in range(tasks)))
    print(json.dumps({"ids": ids, "rooms": placed}))


if __name__ == "__main__":
    url, rooms, count, prefix, start_at, tasks = sys.argv[1:7]
    asyncio.run(write(url, rooms, int(count), prefix, float(start_at), int(tasks)))
