"""Several OS processes appending to rooms of one SQL store: each room's ids exactly 1..N."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
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


async def _run_workers(
    url: str, rooms: list[str], tasks: int, per_process: int = PER_PROCESS
) -> list[tuple[str, int]]:
    """Start PROCESSES workers appending ``per_process`` messages each; each id with its room."""
    start_at = time.time() + 1.5
    args = [url, ",".join(rooms), str(per_process)]
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


WAL_BOUND_PER_PROCESS = 60_000
WAL_BOUND_BYTES = 128 * 1024 * 1024


async def test_processes_appending_without_a_pause_keep_the_wal_bounded(tmp_path: Path) -> None:
    """Each process's checkpoint races the others' writes; one that finds the WAL has not
    started over since its previous one restarts it (measured: 3 x 60,000 appends grew the
    WAL to 185 MB before, 60-66 MB since)."""
    database = tmp_path / "busy.db"
    url = migrated_sqlite(database)
    wal = Path(f"{database}-wal")
    largest = 0

    async def watch() -> None:
        nonlocal largest
        while True:
            with contextlib.suppress(FileNotFoundError):
                largest = max(largest, os.stat(wal).st_size)
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    try:
        placed = await _run_workers(url, ["busy"], 8, WAL_BOUND_PER_PROCESS)
    finally:
        watcher.cancel()
    total = PROCESSES * WAL_BOUND_PER_PROCESS
    assert sorted(message_id for _, message_id in placed) == list(range(1, total + 1))
    assert 0 < largest <= WAL_BOUND_BYTES, f"the WAL reached {largest / 2**20:.0f} MB"
