"""SQL test peers: migrated SQLite files and throwaway PostgreSQL databases."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from flychat.adapters.sql.migrate import migrate_sql
from tests.support.services import missing_service

T = TypeVar("T")
POSTGRES_ADMIN_URL = os.environ.get(
    "FLYCHAT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


SQL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""Parameters for a fixture that runs a test on each SQL database."""


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh loop in another thread (safe from any test)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sqlite_url(path: Path) -> str:
    """The flychat URL of a SQLite file."""
    return f"sqlite:///{path}"


def migrated_sqlite(path: Path) -> str:
    """Create and migrate a SQLite file at ``path``; return its URL."""
    url = sqlite_url(path)
    run_async(lambda: migrate_sql(url))
    return url


def _admin_dsn() -> str:
    return make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=False)


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_admin_dsn(), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def postgres_database(migrate: bool = True) -> Iterator[str]:
    """A fresh PostgreSQL database (migrated unless told otherwise), dropped afterwards.

    Calls ``missing_service`` when the server (FLYCHAT_TEST_POSTGRES_URL) is unreachable.
    """
    name = f"flychat_test_{uuid.uuid4().hex[:12]}"
    try:
        run_async(lambda: _admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        missing_service(f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {exc}")
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            run_async(lambda: migrate_sql(url))
        yield url
    finally:
        run_async(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
