"""SqlPresenceStore: the PresenceStore port over SQLAlchemy Core, on SQLite or PostgreSQL.

A heartbeat is one upsert that returns the row's ``beats`` (0 only for the insert
that created it), so newness needs no read first. Leave and expiry are DELETEs whose
row counts or RETURNING rows say what this caller removed; a delete re-checks
``last_seen_ms`` so a member that heartbeats meanwhile stays.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from flychat.adapters.sql.engine import (
    BEGIN_OPTION,
    UNAVAILABLE_ERRORS,
    create_sql_engine,
    create_sqlite_writer,
    describe,
    guarded,
    unavailable,
)
from flychat.adapters.sql.log import SqlMessageLog
from flychat.adapters.sql.tables import presence
from flychat.adapters.sql.writer import EPOCH, to_ms
from flychat.domain.errors import StorageUnavailable
from flychat.domain.model import Member, RoomId, Sender

MAX_BATCH = 256
_COLUMNS = (
    presence.c.room,
    presence.c.member,
    presence.c.name,
    presence.c.user_id,
    presence.c.last_seen_ms,
)
_OLD = presence.c.last_seen_ms < bindparam("cutoff")
_LEAVE = delete(presence).where(
    presence.c.room == bindparam("room"), presence.c.member == bindparam("member")
)
_MEMBERS = select(*_COLUMNS).where(
    presence.c.room == bindparam("room"), presence.c.last_seen_ms >= bindparam("since")
)


def _upsert(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new = insert(presence).values(
        room=bindparam("room"),
        member=bindparam("member"),
        name=bindparam("name"),
        user_id=bindparam("user_id"),
        last_seen_ms=bindparam("seen"),
        beats=0,
    )
    later = new.excluded.last_seen_ms > presence.c.last_seen_ms
    return new.on_conflict_do_update(
        index_elements=[presence.c.room, presence.c.member],
        set_={
            "name": new.excluded.name,
            "user_id": new.excluded.user_id,
            "last_seen_ms": case((later, new.excluded.last_seen_ms), else_=presence.c.last_seen_ms),
            "beats": presence.c.beats + 1,
        },
    ).returning(presence.c.beats)


def _expire(in_one_room: bool) -> Any:
    chosen = select(presence.c.room, presence.c.member).where(_OLD)
    if in_one_room:
        chosen = chosen.where(presence.c.room == bindparam("room"))
    chosen = chosen.limit(bindparam("limit"))
    pair = tuple_(presence.c.room, presence.c.member)
    return delete(presence).where(pair.in_(chosen), _OLD).returning(*_COLUMNS)


_EXPIRE_ROOM = _expire(True)
_EXPIRE_ALL = _expire(False)


def _member(row: Any) -> Member:
    room, key, name, user, seen_ms = tuple(row)
    return Member(RoomId(room), key, name, user, EPOCH + timedelta(milliseconds=seen_ms))


@dataclass(eq=False, slots=True)
class _Op:
    run: Callable[[Connection], Any]
    done: asyncio.Future[Any]


class SqlPresenceStore:
    """A PresenceStore in the ``presence`` table (room, member, name, user, last seen).

    On PostgreSQL every write is one autocommit statement. On SQLite writes go through
    one worker thread on the (shared) writer engine; writes queued while a transaction
    runs share the next one.
    """

    def __init__(self, engine: AsyncEngine, sqlite_writer: Engine | None = None) -> None:
        self._store = describe(engine.url)
        dialect = engine.dialect.name
        if dialect == "sqlite" and sqlite_writer is None:
            raise ValueError("a SQLite presence store needs the writer engine")
        self._reader = engine.execution_options(**{BEGIN_OPTION: ""}) if sqlite_writer else engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sqlite = sqlite_writer
        self._thread = ThreadPoolExecutor(1, "flychat-sqlite-presence") if sqlite_writer else None
        self._upsert = _upsert(dialect)
        self._pending: list[_Op] = []
        self._drain: asyncio.Task[None] | None = None
        self._closed = False

    async def heartbeat(self, room: RoomId, sender: Sender, now: datetime) -> bool:
        """Upsert the member at ``now``; True when this statement inserted it."""
        params = {
            "room": room.value,
            "member": sender.key,
            "name": sender.name,
            "user_id": sender.user,
            "seen": to_ms(now),
        }
        beats = await self._write(lambda c: c.execute(self._upsert, params).scalar_one())
        return int(beats) == 0

    async def leave(self, room: RoomId, key: str) -> bool:
        """Delete the member; True when this statement deleted it."""
        params = {"room": room.value, "member": key}
        return bool(await self._write(lambda c: c.execute(_LEAVE, params).rowcount == 1))

    async def expire(self, room: RoomId | None, older_than: datetime, limit: int) -> list[Member]:
        """Delete up to ``limit`` members last seen before ``older_than``; return those."""
        params: dict[str, Any] = {"cutoff": to_ms(older_than), "limit": limit}
        statement = _EXPIRE_ALL
        if room is not None:
            params["room"] = room.value
            statement = _EXPIRE_ROOM
        rows = await self._write(lambda c: c.execute(statement, params).all())
        return [_member(row) for row in rows]

    async def members(self, room: RoomId, seen_since: datetime) -> list[Member]:
        """The room's members last seen at or after ``seen_since``."""
        self._check_open()
        params = {"room": room.value, "since": to_ms(seen_since)}

        async def read() -> list[Member]:
            async with self._reader.connect() as conn:
                return [_member(row) for row in await conn.execute(_MEMBERS, params)]

        return await guarded(self._store, read)

    async def aclose(self) -> None:
        """Finish queued writes, then refuse later calls."""
        self._closed = True
        while self._drain is not None:
            await asyncio.gather(self._drain, return_exceptions=True)
        if self._thread is not None:
            self._thread.shutdown(wait=False)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageUnavailable(f"{self._store} is closed")

    async def _write(self, run: Callable[[Connection], Any]) -> Any:
        self._check_open()
        if self._thread is None:

            async def once() -> Any:
                async with self._autocommit.connect() as conn:
                    return await conn.run_sync(run)

            return await guarded(self._store, once)
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Op(run, done))
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_sqlite())
        return await asyncio.shield(done)

    async def _drain_sqlite(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    results = await loop.run_in_executor(
                        self._thread, functools.partial(self._in_sqlite, batch)
                    )
                except UNAVAILABLE_ERRORS as exc:
                    error = unavailable(self._store, exc)
                    for op in batch:
                        if not op.done.done():
                            op.done.set_exception(error)
                    continue
                for op, result in zip(batch, results, strict=True):
                    if not op.done.done():
                        op.done.set_result(result)
        finally:
            self._drain = None

    def _in_sqlite(self, batch: list[_Op]) -> list[Any]:
        assert self._sqlite is not None
        with self._sqlite.begin() as conn:
            return [op.run(conn) for op in batch]


@asynccontextmanager
async def open_sql_presence(url: str) -> AsyncIterator[SqlPresenceStore]:
    """A SqlPresenceStore on ``url`` with engines of its own (the schema must exist)."""
    engine = create_sql_engine(url)
    writer = create_sqlite_writer(url) if engine.dialect.name == "sqlite" else None
    store = SqlPresenceStore(engine, writer)
    try:
        yield store
    finally:
        await store.aclose()
        if writer is not None:
            writer.dispose()
        await engine.dispose()


@asynccontextmanager
async def open_sql_stores(
    url: str, retention: int = 1000
) -> AsyncIterator[tuple[SqlMessageLog, SqlPresenceStore]]:
    """The message log and the presence store on ``url``, sharing one engine (and on SQLite
    one writer connection, so their writes queue for it instead of contending for the file lock).
    """
    engine = create_sql_engine(url)
    writer = create_sqlite_writer(url) if engine.dialect.name == "sqlite" else None
    log = SqlMessageLog(engine, retention, writer)
    store = SqlPresenceStore(engine, writer)
    try:
        yield log, store
    finally:
        await store.aclose()
        await log.aclose()
        await engine.dispose()
