"""Alembic migrations of the SQL stores: every revision up, down to base, up again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from asyncio.subprocess import PIPE
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from flychat.adapters.sql.engine import create_sql_engine
from flychat.adapters.sql.log import open_sql_log
from flychat.adapters.sql.migrate import alembic_config, downgrade_sql, migrate_sql
from flychat.adapters.sql.tables import metadata
from flychat.domain.model import Draft, RoomId
from tests.support.servers import ROOT
from tests.support.sql import SQL_BACKENDS, postgres_database, sqlite_url

SCHEMA_TABLES = {"rooms", "messages", "presence"}
MIGRATE = (
    "import asyncio, sys; from flychat.adapters.sql.migrate import migrate_sql; "
    "asyncio.run(migrate_sql(sys.argv[1]))"
)


@pytest.fixture(params=SQL_BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, not migrated."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "migrations.db")
    else:
        with postgres_database(migrate=False) as url:
            yield url


async def tables(url: str) -> set[str]:
    def names(conn: Connection) -> set[str]:
        return set(inspect(conn).get_table_names())

    engine = create_sql_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(names)
    finally:
        await engine.dispose()


def revisions(url: str) -> list[str]:
    """Every revision, base first."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def test_every_revision_up_down_and_up_again(empty_url: str) -> None:
    steps = revisions(empty_url)
    assert steps[0] == "0001"
    for revision in steps:
        await migrate_sql(empty_url, revision)
    assert await tables(empty_url) >= SCHEMA_TABLES
    for revision in [*reversed(steps[:-1]), "base"]:
        await downgrade_sql(empty_url, revision)
    assert not SCHEMA_TABLES & await tables(empty_url)
    await migrate_sql(empty_url)
    assert await tables(empty_url) >= SCHEMA_TABLES
    await migrate_sql(empty_url)


async def test_migrate_is_idempotent(empty_url: str) -> None:
    await migrate_sql(empty_url)
    await migrate_sql(empty_url)
    assert await tables(empty_url) >= SCHEMA_TABLES


@pytest.mark.slow
async def test_two_processes_migrating_at_once_both_succeed(empty_url: str) -> None:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", MIGRATE, empty_url, cwd=ROOT, stderr=PIPE
        )
        for _ in range(3)
    ]
    for proc in procs:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
    assert await tables(empty_url) >= SCHEMA_TABLES


async def test_head_schema_matches_the_tables_module(empty_url: str) -> None:
    """Autogenerate finds no difference between the migrated schema and sql_tables."""
    await migrate_sql(empty_url)

    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    engine = create_sql_engine(empty_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def _rows(url: str, query: str, params: dict[str, object] | None = None) -> list[Any]:
    engine = create_sql_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(query), params or {})
            return list(result) if result.returns_rows else []
    finally:
        await engine.dispose()


async def _is_without_rowid(url: str) -> bool:
    rows = await _rows(url, "SELECT sql FROM sqlite_master WHERE name = 'messages'")
    return "WITHOUT ROWID" in rows[0][0].upper()


async def test_user_column_up_down_up_keeps_the_messages(empty_url: str) -> None:
    """0002 adds ``user_sub`` to a table holding messages; down and up again lose none."""
    await migrate_sql(empty_url, "0001")
    await _rows(
        empty_url,
        "INSERT INTO messages (room, id, provisional_id, sender, text, date_ms) "
        "VALUES ('r', 1, 'pid-00001', 'alice', 'before auth', 1000)",
    )
    await _rows(empty_url, "INSERT INTO rooms (room, last_id) VALUES ('r', 1)")
    await migrate_sql(empty_url, "0002")
    await _rows(
        empty_url,
        "INSERT INTO messages (room, id, provisional_id, sender, text, date_ms, user_sub) "
        "VALUES ('r', 2, 'pid-00002', 'Bob', 'with auth', 2000, 'bob-1')",
    )
    await _rows(empty_url, "UPDATE rooms SET last_id = 2 WHERE room = 'r'")
    async with open_sql_log(empty_url, 1000) as log:
        page = await log.latest(RoomId("r"), 10)
    assert [(m.sender, m.user) for m in page.messages] == [("alice", None), ("Bob", "bob-1")]

    await downgrade_sql(empty_url, "0001")
    rows = await _rows(empty_url, "SELECT id, sender, text FROM messages ORDER BY id")
    assert [tuple(r) for r in rows] == [(1, "alice", "before auth"), (2, "Bob", "with auth")]

    await migrate_sql(empty_url)
    async with open_sql_log(empty_url, 1000) as log:
        page = await log.latest(RoomId("r"), 10)
        assert [(m.id, m.user) for m in page.messages] == [(1, None), (2, None)]
        draft = Draft("pid-00003", "Carol", "after", datetime(2026, 1, 1, tzinfo=UTC), "c-3")
        stored = await log.append(RoomId("r"), draft)
        assert (stored.id, stored.user) == (3, "c-3")
        assert (await log.latest(RoomId("r"), 1)).messages[0].user == "c-3"
    if empty_url.startswith("sqlite"):
        assert await _is_without_rowid(empty_url)


def developer_alembic(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    """The ``alembic`` command of the dev venv, run from the checkout as a developer would."""
    alembic = Path(sys.executable).parent / "alembic"
    return subprocess.run(
        [str(alembic), *args],
        cwd=ROOT,
        env={**os.environ, "FLYCHAT_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_developer_alembic_command_works_from_the_checkout(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "dev.db")
    upgraded = developer_alembic("upgrade", "head", url=url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert await tables(url) >= SCHEMA_TABLES
    heads = developer_alembic("heads", url=url)
    assert heads.returncode == 0, heads.stderr
    assert [line.split()[0] for line in heads.stdout.splitlines()] == [revisions(url)[-1]]
    assert "(head)" in heads.stdout
