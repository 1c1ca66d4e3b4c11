"""A separate OS process that appends messages to one room through the DynamoDB adapter.

Usage: python -m tests.integration.dynamo_writer URL ROOM COUNT PREFIX START_AT
Prints ``{"ids": [...], "conflicts": N}`` as JSON.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from datetime import UTC, datetime

from flychat.adapters.dynamodb.log import open_dynamo_log
from flychat.domain.errors import AppendConflict
from flychat.domain.model import Draft, RoomId, to_millis


async def write(url: str, room: str, count: int, prefix: str, start_at: float) -> None:
    """Append ``count`` messages, retrying conflicts, starting at wall-clock ``start_at``."""
    ids: list[int] = []
    conflicts = 0
    async with open_dynamo_log(url) as log:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        for n in range(count):
            draft = Draft(f"{prefix}-{n:08d}", prefix, f"message {n}", to_millis(datetime.now(UTC)))
            while True:
                try:
                    ids.append((await log.append(RoomId(room), draft)).id)
                    break
                except AppendConflict:
                    conflicts += 1
                    await asyncio.sleep(random.uniform(0, 0.004))
    print(json.dumps({"ids": ids, "conflicts": conflicts}))


if __name__ == "__main__":
    url, room, count, prefix, start_at = sys.argv[1:6]
    asyncio.run(write(url, room, int(count), prefix, float(start_at)))
