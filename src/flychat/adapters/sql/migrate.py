"""Running the Alembic migrations of the SQL stores from code (``flychat migrate``)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from flychat.adapters.sql.engine import (
    UNAVAILABLE_ERRORS,
    async_url,
    create_sql_engine,
    describe,
    unavailable,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for the migrations shipped in the package, aimed at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


async def migrate_sql(url: str, revision: str = "head") -> None:
    """Upgrade the schema at ``url`` to ``revision``; safe to run from several processes."""
    await _run(url, "upgrade", revision)


async def downgrade_sql(url: str, revision: str = "base") -> None:
    """Downgrade the schema at ``url`` to ``revision`` (default: drop everything)."""
    await _run(url, "downgrade", revision)


async def _run(url: str, action: str, revision: str) -> None:
    config = alembic_config(url)
    target = async_url(url)
    lock_path = target.database if target.get_backend_name() == "sqlite" else None
    try:
        async with _sqlite_file_lock(lock_path):
            engine = create_sql_engine(url)
            try:
                async with engine.connect() as connection:
                    await connection.run_sync(_alembic, config, action, revision)
                    await connection.commit()
            finally:
                await engine.dispose()
    except UNAVAILABLE_ERRORS as exc:
        raise unavailable(describe(target), exc) from exc


def _alembic(connection: Connection, config: Config, action: str, revision: str) -> None:
    config.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


@asynccontextmanager
async def _sqlite_file_lock(database: str | None) -> AsyncIterator[None]:
    if database is None:
        yield
        return
    fd = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
