"""SqlPresenceStore: the PresenceStore port over SQLAlchemy Core, on SQLite or PostgreSQL.

A heartbeat is one upsert that returns the row's ``beats`` (0 only for the insert
that created it), so newness needs no read first. Leave and expiry are DELETEs whose
row counts or RETURNING rows say what this caller removed; a delete re-checks
``last_seen_ms`` so a member that heartbeats meanwhile stays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from flychat.adapters.sql.batching import Coalescer, SqliteBatcher
from flychat.adapters.sql.engine import (
    BEGIN_OPTION,
    create_sql_engine,
    create_sqlite_writer,
    describe,
    guarded,
)
from flychat.adapters.sql.log import SqlMessageLog
from flychat.adapters.sql.tables import presence
from flychat.adapters.sql.writer import EPOCH, to_ms
from flychat.domain.errors import StorageUnavailable
from flychat.domain.model import Member, RoomId, Sender

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
_MEMBERS_OF = select(*_COLUMNS).where(
    presence.c.room.in_(bindparam("rooms", expanding=True)),
    presence.c.last_seen_ms >= bindparam("since"),
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


_PG_BEATS = text(
    """
    INSERT INTO presence (room, member, name, user_id, last_seen_ms, beats)
    SELECT t.room, t.member, t.name, t.user_id, t.seen, 0
    FROM unnest(
        CAST(:rooms AS text[]), CAST(:members AS text[]), CAST(:names AS text[]),
        CAST(:users AS text[]), CAST(:seen AS bigint[])
    ) AS t(room, member, name, user_id, seen)
    ON CONFLICT (room, member) DO UPDATE SET
        name = EXCLUDED.name,
        user_id = EXCLUDED.user_id,
        last_seen_ms = GREATEST(presence.last_seen_ms, EXCLUDED.last_seen_ms),
        beats = presence.beats + 1
    RETURNING room, member, beats
    """
)
"""PostgreSQL: every heartbeat waiting is one row of one upsert (distinct members only)."""


def _member(row: Any) -> Member:
    room, key, name, user, seen_ms = tuple(row)
    return Member(RoomId(room), key, name, user, EPOCH + timedelta(milliseconds=seen_ms))


_Beat = tuple[str, str, str, str | None, int]
"""room, member, name, user, last seen (ms)."""


class SqlPresenceStore:
    """A PresenceStore in the ``presence`` table (room, member, name, user, last seen).

    On PostgreSQL every call is one statement (writes in autocommit). On SQLite writes
    go through one worker thread on the (shared) writer connection and reads through
    another on a reader connection; calls queued meanwhile share the next transaction.
    """

    def __init__(self, engine: AsyncEngine, sqlite_writer: Engine | None = None) -> None:
        self._store = describe(engine.url)
        dialect = engine.dialect.name
        if dialect == "sqlite" and sqlite_writer is None:
            raise ValueError("a SQLite presence store needs the writer engine")
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._upsert = _upsert(dialect)
        self._pg_beats: Coalescer[_Beat, bool] = Coalescer(self._pg_heartbeats)
        self._member_reads: Coalescer[tuple[RoomId, int], list[Member]] = Coalescer(
            self._read_members
        )
        self._writes: SqliteBatcher | None = None
        self._reads: SqliteBatcher | None = None
        self._read_engine: Engine | None = None
        if sqlite_writer is not None:
            self._read_engine = create_sqlite_writer(
                engine.url.render_as_string(hide_password=False)
            )
            reader = self._read_engine.execution_options(**{BEGIN_OPTION: "BEGIN"})
            self._writes = SqliteBatcher(self._store, sqlite_writer, "flychat-sqlite-presence")
            self._reads = SqliteBatcher(self._store, reader, "flychat-sqlite-presence-read")
        self._closed = False

    async def heartbeat(self, room: RoomId, sender: Sender, now: datetime) -> bool:
        """Upsert the member at ``now``; True when this statement inserted it."""
        if self._writes is None:
            self._check_open()
            beat = (room.value, sender.key, sender.name, sender.user, to_ms(now))
            return await self._pg_beats.submit(beat)
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
        return await self._member_reads.submit((room, to_ms(seen_since)))

    async def aclose(self) -> None:
        """Finish queued calls, then refuse later ones."""
        self._closed = True
        await self._pg_beats.close()
        await self._member_reads.close()
        for batcher in (self._writes, self._reads):
            if batcher is not None:
                await batcher.close()
        if self._read_engine is not None:
            self._read_engine.dispose()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageUnavailable(f"{self._store} is closed")

    async def _pg_heartbeats(self, beats: list[_Beat]) -> list[bool]:
        """One upsert for every distinct member waiting; a repeat in the batch is not new."""
        rows: dict[tuple[str, str], _Beat] = {}
        for beat in beats:
            slot = (beat[0], beat[1])
            earlier = rows.get(slot)
            rows[slot] = beat if earlier is None else (*beat[:4], max(beat[4], earlier[4]))
        params = {
            "rooms": [b[0] for b in rows.values()],
            "members": [b[1] for b in rows.values()],
            "names": [b[2] for b in rows.values()],
            "users": [b[3] for b in rows.values()],
            "seen": [b[4] for b in rows.values()],
        }

        async def upsert() -> set[tuple[str, str]]:
            async with self._autocommit.connect() as conn:
                result = await conn.execute(_PG_BEATS, params)
                return {(room, member) for room, member, count in result if count == 0}

        created = await guarded(self._store, upsert)
        answers = []
        for beat in beats:
            slot = (beat[0], beat[1])
            answers.append(slot in created)
            created.discard(slot)
        return answers

    async def _read_members(self, wanted: list[tuple[RoomId, int]]) -> list[list[Member]]:
        """One query for every room whose member list is waiting; rows are shared."""
        rooms = {room.value: room for room, _ in wanted}
        params = {"rooms": sorted(rooms), "since": min(since for _, since in wanted)}
        if self._reads is not None:
            rows = await self._reads.run(lambda c: c.execute(_MEMBERS_OF, params).all())
        else:

            async def read() -> list[Any]:
                async with self._autocommit.connect() as conn:
                    return list((await conn.execute(_MEMBERS_OF, params)).all())

            rows = await guarded(self._store, read)
        by_room: dict[str, list[tuple[int, Member]]] = {}
        for name, key, shown, user, seen_ms in rows:
            seen = EPOCH + timedelta(milliseconds=seen_ms)
            member = Member(rooms[name], key, shown, user, seen)
            by_room.setdefault(name, []).append((seen_ms, member))
        return [
            [m for seen_ms, m in by_room.get(room.value, ()) if seen_ms >= since]
            for room, since in wanted
        ]

    async def _write(self, run: Callable[[Connection], Any]) -> Any:
        self._check_open()
        if self._writes is not None:
            return await self._writes.run(run)

        async def once() -> Any:
            async with self._autocommit.connect() as conn:
                return await conn.run_sync(run)

        return await guarded(self._store, once)


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
