"""Several OS processes appending to one room of one SQL store: ids exactly 1..N."""

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


@pytest.mark.parametrize("tasks", [1, 8])
async def test_processes_appending_to_one_room_get_ids_1_to_n(url: str, tasks: int) -> None:
    start_at = time.time() + 1.5
    args = [url, "shared", str(PER_PROCESS)]
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
    ids: list[int] = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()
        ids += json.loads(out)["ids"]
    total = PROCESSES * PER_PROCESS
    assert sorted(ids) == list(range(1, total + 1))
    async with open_sql_log(url, retention=1_000_000) as log:
        page = await log.after(RoomId("shared"), 0, total + 1)
    assert [m.id for m in page.messages] == list(range(1, total + 1))
    assert page.last_id == total
    assert len({m.provisional_id for m in page.messages}) == total
