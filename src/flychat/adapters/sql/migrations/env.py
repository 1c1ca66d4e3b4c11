"""Alembic environment for flychat: async engines, URL from the settings or the caller.

The URL comes from ``config.attributes["url"]`` when run programmatically
(``flychat migrate``), else from FLYCHAT_DATABASE_URL via ``load_settings``.
A caller may also hand over a ready connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from flychat.adapters.sql.engine import async_url, create_sql_engine
from flychat.adapters.sql.tables import metadata
from flychat.config import load_settings

PG_MIGRATION_LOCK = 0x666C7963686174

config = context.config


def database_url() -> str:
    url = config.attributes.get("url")
    return str(url) if url else load_settings().database_url


def run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": PG_MIGRATION_LOCK})
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_sql_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    url = async_url(database_url())
    context.configure(
        url=url.set(drivername=url.get_backend_name()),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif isinstance(config.attributes.get("connection"), Connection):
    run_migrations(config.attributes["connection"])
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(run_async_migrations())
