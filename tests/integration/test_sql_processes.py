"""Several OS processes appending to rooms of one SQL store: each room's ids exactly 1..N."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import Iterator
from pathlib import Path

import pytest

from flychat.adapters.sql.log import open_sql_log
from flychat.domain.model import RoomId
from tests.support.servers import ROOT
from tests.support.sql import SQL_BACKENDS, migrated_sqlite, postgres_database

pytestmark = pytest.mark.slow

PROCESSES = 3
PER_PROCESS = 150


@pytest.fixture(params=SQL_BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield migrated_sqlite(tmp_path / "shared.db")
    else:
        with postgres_database() as database_url:
            yield database_url


async def _run_workers(url: str, rooms: list[str], tasks: int) -> list[tuple[str, int]]:
    """Start PROCESSES workers appending PER_PROCESS messages each; each id with its room."""
    start_at = time.time() + 1.5
    args = [url, ",".join(rooms), str(PER_PROCESS)]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.sql_append_worker",
            *args,
            f"proc{p}",
            str(start_at),
            str(tasks),
            cwd=ROOT,
            stdout=PIPE,
            stderr=PIPE,
        )
        for p in range(PROCESSES)
    ]
    placed: list[tuple[str, int]] = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        result = json.loads(out)
        placed += zip(result["rooms"], result["ids"], strict=True)
    return placed


@pytest.mark.parametrize("tasks", [1, 8])
async def test_processes_appending_to_one_room_get_ids_1_to_n(url: str, tasks: int) -> None:
    ids = [message_id for _, message_id in await _run_workers(url, ["shared"], tasks)]
    total = PROCESSES * PER_PROCESS
    assert sorted(ids) == list(range(1, total + 1))
    async with open_sql_log(url, retention=1_000_000) as log:
        page = await log.after(RoomId("shared"), 0, total + 1)
    assert [m.id for m in page.messages] == list(range(1, total + 1))
    assert page.last_id == total
    assert len({m.provisional_id for m in page.messages}) == total


async def test_processes_appending_to_many_rooms_get_ids_1_to_n_in_each(url: str) -> None:
    rooms = [f"room-{n}" for n in range(5)]
    placed = await _run_workers(url, rooms, 8)
    per_room = PROCESSES * PER_PROCESS // len(rooms)
    async with open_sql_log(url, retention=1_000_000) as log:
        for room in rooms:
            ids = sorted(message_id for name, message_id in placed if name == room)
            assert ids == list(range(1, per_room + 1))
            page = await log.after(RoomId(room), 0, per_room + 1)
            assert [m.id for m in page.messages] == ids
            assert page.last_id == per_room
