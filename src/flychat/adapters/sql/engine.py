"""Async SQLAlchemy engines for SQLite and PostgreSQL, and driver-error translation."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from flychat.domain.errors import StorageUnavailable

T = TypeVar("T")
SQLITE_BUSY_SECONDS = 5.0
SQLITE_POOL_WAIT_SECONDS = 30.0
PG_CONNECT_SECONDS = 5.0
PG_COMMAND_SECONDS = 15.0
PG_POOL_SIZE = 20
PG_POOL_WAIT_SECONDS = 30.0
BEGIN_OPTION = "flychat_sqlite_begin"
SYNCHRONOUS_MODES = ("off", "normal", "full", "extra")
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: str) -> URL:
    """The SQLAlchemy URL with the async driver: aiosqlite or asyncpg."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(f"unsupported SQL store {backend!r}: use sqlite:/// or postgresql://")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("SQLite needs a file (sqlite:///path.db); use memory:// for RAM")
    if parsed.query.get("synchronous", "normal") not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous= must be one of {', '.join(SYNCHRONOUS_MODES)}")
    return parsed.set(drivername=_DRIVERS[backend])


def describe(url: URL) -> str:
    """A human name for the store, without credentials."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite database {url.database}"
    return f"PostgreSQL database {url.database} at {url.host or 'localhost'}:{url.port or 5432}"


def create_sql_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; on SQLite: WAL, a busy timeout and explicit ``BEGIN IMMEDIATE``.

    A SQLite connection begins its transactions with ``BEGIN IMMEDIATE`` unless the
    execution option ``flychat_sqlite_begin`` names another statement ("" for none).
    ``?synchronous=full`` in a SQLite URL trades speed for durability on power loss
    (default ``normal``).
    """
    target = async_url(url)
    if target.get_backend_name() == "postgresql":
        return create_async_engine(
            target,
            pool_size=PG_POOL_SIZE,
            max_overflow=0,
            pool_timeout=PG_POOL_WAIT_SECONDS,
            pool_recycle=3600,
            connect_args={"timeout": PG_CONNECT_SECONDS, "command_timeout": PG_COMMAND_SECONDS},
        )
    synchronous = str(target.query.get("synchronous", "normal"))
    engine = create_async_engine(
        target.difference_update_query(["synchronous"]),
        pool_size=4,
        max_overflow=8,
        pool_timeout=SQLITE_POOL_WAIT_SECONDS,
        connect_args={"timeout": SQLITE_BUSY_SECONDS},
    )
    event.listen(engine.sync_engine, "connect", functools.partial(_sqlite_connect, synchronous))
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def create_sqlite_writer(url: str) -> Engine:
    """A synchronous engine with one connection for a SQLite file's writes.

    The RoomWriter runs each write transaction whole on it: on the event loop when
    the lock is free, else in one worker thread (never both at once). Same pragmas
    as ``create_sql_engine``.
    """
    target = async_url(url)
    synchronous = str(target.query.get("synchronous", "normal"))
    engine = create_engine(
        target.difference_update_query(["synchronous"]).set(drivername="sqlite+pysqlite"),
        pool_size=1,
        max_overflow=0,
        pool_timeout=SQLITE_POOL_WAIT_SECONDS,
        connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
    )
    event.listen(engine, "connect", functools.partial(_sqlite_connect, synchronous))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def sqlite_commit_syncs(url: str) -> bool:
    """True when a SQLite URL asks for commits that wait for the disk (``synchronous=full``)."""
    return str(async_url(url).query.get("synchronous", "normal")) in ("full", "extra")


def _sqlite_connect(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECONDS * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    finally:
        cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    statement = connection.get_execution_options().get(BEGIN_OPTION, "BEGIN IMMEDIATE")
    if statement:
        connection.exec_driver_sql(statement)


def unavailable(store: str, exc: BaseException) -> StorageUnavailable:
    """The domain error for a driver failure, with a message naming the store and cause."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if "no such table" in reason or ('relation "' in reason and "does not exist" in reason):
        reason += " (is the schema missing? run `flychat migrate`)"
    return StorageUnavailable(f"{store} is unavailable: {reason}")


UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, PoolTimeout, OSError)
"""Driver failures that mean the store cannot serve the request (TimeoutError is an OSError)."""


async def guarded(store: str, operation: Callable[[], Awaitable[T]]) -> T:
    """Run ``operation``, once more after a dropped connection; driver failures become
    StorageUnavailable naming ``store``."""
    try:
        return await operation()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise unavailable(store, exc) from exc
    except UNAVAILABLE_ERRORS as exc:
        raise unavailable(store, exc) from exc
    try:
        return await operation()
    except UNAVAILABLE_ERRORS as exc:
        raise unavailable(store, exc) from exc
