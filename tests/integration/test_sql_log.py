"""SqlMessageLog beyond the contract: URLs, failures, locks, cancellation."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from flychat.adapters.sql.engine import async_url
from flychat.adapters.sql.log import open_sql_log
from flychat.adapters.sql.postgres import APPEND, connect_params
from flychat.adapters.sql.writer import CHECKPOINT_EVERY, RoomWriter
from flychat.domain.errors import StorageUnavailable
from flychat.domain.model import Draft, RoomId
from tests.support.sql import (
    SQL_BACKENDS,
    migrated_sqlite,
    postgres_database,
    run_async,
    sqlite_url,
)

ROOM = RoomId("lobby")


def draft(text: str = "hi") -> Draft:
    return Draft(
        str(uuid.uuid4()), "alice", text, datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    )


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=SQL_BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return migrated_sqlite(tmp_path / "log.db")
    return str(request.getfixturevalue("pg_url"))


def test_urls_get_the_async_drivers() -> None:
    assert async_url("sqlite:///./flychat.db").drivername == "sqlite+aiosqlite"
    assert async_url("sqlite:////abs/path.db").database == "/abs/path.db"
    pg = async_url("postgresql://u:p@db.example:5433/chat")
    assert (pg.drivername, pg.host, pg.port, pg.database) == (
        "postgresql+asyncpg",
        "db.example",
        5433,
        "chat",
    )
    for bad in ("sqlite:///:memory:", "sqlite://", "mysql://x@y/z", "not a url"):
        with pytest.raises(ValueError):
            async_url(bad)


async def test_dates_are_stored_to_the_millisecond(url: str) -> None:
    room = RoomId(f"ms-{uuid.uuid4().hex[:8]}")
    async with open_sql_log(url) as log:
        appended = await log.append(room, draft())
        (read,) = (await log.latest(room, 1)).messages
    assert appended.date == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert read == appended


async def test_a_closed_log_is_unavailable(url: str) -> None:
    async with open_sql_log(url) as log:
        await log.check()
    with pytest.raises(StorageUnavailable, match="closed"):
        await log.append(ROOM, draft())
    with pytest.raises(StorageUnavailable, match="closed"):
        await log.latest(ROOM, 10)


async def test_a_missing_schema_says_to_migrate(tmp_path: Path) -> None:
    async with open_sql_log(sqlite_url(tmp_path / "empty.db")) as log:
        with pytest.raises(StorageUnavailable, match="flychat migrate"):
            await log.check()
        with pytest.raises(StorageUnavailable, match="flychat migrate"):
            await log.append(ROOM, draft())


async def test_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    async with open_sql_log(sqlite_url(tmp_path / "gone" / "x.db")) as log:
        with pytest.raises(StorageUnavailable, match="unable to open"):
            await log.latest(ROOM, 10)
    await asyncio.sleep(0.1)


async def test_cancelled_appends_leave_no_gap(url: str) -> None:
    room = RoomId(f"cancel-{uuid.uuid4().hex[:8]}")
    async with open_sql_log(url) as log:
        tasks = [asyncio.create_task(log.append(room, draft(f"m{n}"))) for n in range(30)]
        await asyncio.sleep(0)
        for task in tasks[::2]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        following = await log.append(room, draft("after"))
        page = await log.after(room, 0, 100)
    assert [m.id for m in page.messages] == list(range(1, following.id + 1))


async def test_sqlite_appends_wait_for_another_writer_and_reads_do_not(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "busy.db")
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    async with open_sql_log(url) as log:
        pending = asyncio.create_task(log.append(ROOM, draft()))
        assert (await asyncio.wait_for(log.latest(ROOM, 5), 1)).last_id == 0
        await asyncio.sleep(0.5)
        assert not pending.done()
        other.execute("COMMIT")
        assert (await pending).id == 1
    other.close()


@pytest.mark.postgres
async def test_postgresql_rooms_do_not_block_each_other(pg_url: str) -> None:
    locked, free = RoomId(f"locked-{uuid.uuid4().hex[:8]}"), RoomId(f"free-{uuid.uuid4().hex[:8]}")
    async with open_sql_log(pg_url) as log:
        await log.append(locked, draft())
        holder = await asyncpg.connect(make_url(pg_url).render_as_string(hide_password=False))
        try:
            tx = holder.transaction()
            await tx.start()
            await holder.execute("UPDATE rooms SET last_id = last_id WHERE room = $1", locked.value)
            waiting = asyncio.create_task(log.append(locked, draft()))
            assert (await asyncio.wait_for(log.append(free, draft()), 5)).id == 1
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await tx.rollback()
            assert (await waiting).id == 2
        finally:
            await holder.close()


@pytest.mark.postgres
async def test_postgresql_survives_dropped_connections(pg_url: str) -> None:
    room = RoomId(f"drop-{uuid.uuid4().hex[:8]}")
    async with open_sql_log(pg_url) as log:
        await log.append(room, draft())
        await log.latest(room, 1)
        admin = await asyncpg.connect(make_url(pg_url).render_as_string(hide_password=False))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed >= 1
        assert (await log.append(room, draft())).id == 2
        assert (await log.latest(room, 5)).last_id == 2


async def _generic_plan_of_append(url: str) -> str:
    engine = create_async_engine(async_url(url))
    conn = await asyncpg.connect(**connect_params(engine))
    try:
        await conn.execute(f"PREPARE append AS {APPEND}")
        rows = await conn.fetch(
            "EXPLAIN EXECUTE append('{r}', '{1}', '{r}', '{0}', '{p}', '{s}', '{t}', '{1}', "
            "'{NULL}', 1000)"
        )
        return "\n".join(row[0] for row in rows)
    finally:
        await conn.close()
        await engine.dispose()


@pytest.mark.postgres
def test_postgresql_trim_never_scans_the_table_even_when_planned_on_an_empty_one() -> None:
    with postgres_database() as url:
        plan = run_async(lambda: _generic_plan_of_append(url))
    trim = plan.split("CTE trimmed", 1)[1]
    assert "Index Scan using" in trim and "on messages m" in trim, plan
    assert "Seq Scan" not in plan, plan


async def test_sqlite_synchronous_mode_from_the_url(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "durable.db") + "?synchronous=full"
    async with open_sql_log(url) as log:
        assert (await log.append(ROOM, draft())).id == 1
    with pytest.raises(ValueError, match="synchronous"):
        async_url(url.replace("full", "sometimes"))


async def test_a_batch_spanning_rooms_with_one_duplicate_stores_each_once(url: str) -> None:
    rooms = [RoomId(f"room-{n}") for n in range(12)]
    async with open_sql_log(url, retention=1000) as log:
        known = draft("stored before")
        first = await log.append(rooms[3], known)
        drafts = [(room, draft(f"{room.value}-{i}")) for room in rooms for i in range(5)]
        drafts.append((rooms[3], known))
        results = await asyncio.gather(*(log.append(room, d) for room, d in drafts))
        assert results[-1] == first
        for room in rooms:
            page = await log.after(room, 0, 100)
            expected = 6 if room == rooms[3] else 5
            assert [m.id for m in page.messages] == list(range(1, expected + 1))
            assert len({m.provisional_id for m in page.messages}) == expected


async def test_sqlite_checkpoints_keep_the_wal_bounded(tmp_path: Path) -> None:
    url = migrated_sqlite(tmp_path / "wal.db")
    wal = tmp_path / "wal.db-wal"
    async with open_sql_log(url, retention=100) as log:
        for n in range(CHECKPOINT_EVERY - 1):
            await log.append(ROOM, draft(f"m{n}"))
        before_any_checkpoint = wal.stat().st_size
        for n in range(CHECKPOINT_EVERY * 4):
            await log.append(ROOM, draft(f"later {n}"))
            await asyncio.sleep(0)
        after = wal.stat().st_size
    assert after <= before_any_checkpoint * 1.5


async def test_sqlite_appends_do_not_wait_for_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    checkpoint = RoomWriter._checkpoint

    def held_checkpoint(writer: RoomWriter) -> None:
        started.set()
        release.wait(10)
        checkpoint(writer)

    monkeypatch.setattr(RoomWriter, "_checkpoint", held_checkpoint)
    url = migrated_sqlite(tmp_path / "held.db")
    async with open_sql_log(url) as log:
        for n in range(CHECKPOINT_EVERY):
            await log.append(ROOM, draft(f"m{n}"))
        assert await asyncio.to_thread(started.wait, 5)
        later = [await asyncio.wait_for(log.append(ROOM, draft(f"x{n}")), 2) for n in range(20)]
        release.set()
    assert [m.id for m in later] == list(range(CHECKPOINT_EVERY + 1, CHECKPOINT_EVERY + 21))
