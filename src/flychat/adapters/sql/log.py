"""SqlMessageLog: the MessageLog port over SQLAlchemy Core, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Select, bindparam, select, true
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from flychat.adapters.sql.engine import (
    BEGIN_OPTION,
    create_sql_engine,
    create_sqlite_writer,
    describe,
    guarded,
    sqlite_commit_syncs,
)
from flychat.adapters.sql.tables import messages, rooms
from flychat.adapters.sql.writer import MESSAGE_COLUMNS, RoomWriter, from_row
from flychat.domain.errors import StorageUnavailable
from flychat.domain.model import Draft, Message, Page, RoomId


def _page_query(*where: Any, newest_first: bool) -> Select[Any]:
    order = messages.c.id.desc() if newest_first else messages.c.id.asc()
    chosen = (
        select(*MESSAGE_COLUMNS)
        .where(messages.c.room == bindparam("room"), *where)
        .order_by(order)
        .limit(bindparam("limit"))
        .subquery()
    )
    return (
        select(rooms.c.last_id, chosen)
        .select_from(rooms.outerjoin(chosen, true()))
        .where(rooms.c.room == bindparam("room"))
        .order_by(chosen.c.id)
    )


_LATEST = _page_query(newest_first=True)
_AFTER = _page_query(messages.c.id > bindparam("pivot"), newest_first=False)
_BEFORE = _page_query(messages.c.id < bindparam("pivot"), newest_first=True)


def _page(rows: Sequence[Sequence[Any]]) -> Page:
    if not rows:
        return Page((), 0)
    found = tuple(from_row(row) for row in rows if row[1] is not None)
    return Page(found, int(rows[0][0]))


class SqlMessageLog:
    """A MessageLog in two tables: ``rooms`` (per-room id counter) and ``messages``.

    Appends go through a RoomWriter (group commit, one transaction per batch). Reads
    are one SELECT each, so the messages and the last id come from one snapshot.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        retention: int = 1000,
        sqlite_writer: Engine | None = None,
        sqlite_inline: bool = True,
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be at least 1")
        self.retention = retention
        self._store = describe(engine.url)
        self._closed = False
        sqlite = engine.dialect.name == "sqlite"
        self._reader = engine.execution_options(**{BEGIN_OPTION: ""}) if sqlite else engine
        if sqlite and sqlite_writer is None:
            raise ValueError("a SQLite log needs its writer engine (see open_sql_log)")
        self._writer = RoomWriter(engine, self._reader, retention, sqlite_writer, sqlite_inline)

    async def append(self, room: RoomId, draft: Draft) -> Message:
        """Store the draft as the room's next message; idempotent on its provisional id."""
        self._check_open()
        return await self._writer.append(room.value, draft)

    async def latest(self, room: RoomId, limit: int) -> Page:
        """The newest ``limit`` messages, oldest first, and the room's last id."""
        return await self._read(_LATEST, room=room.value, limit=max(limit, 0))

    async def after(self, room: RoomId, after_id: int, limit: int) -> Page:
        """Up to ``limit`` messages with id > ``after_id``, oldest first, and the last id."""
        return await self._read(_AFTER, room=room.value, pivot=after_id, limit=max(limit, 0))

    async def before(self, room: RoomId, before_id: int, limit: int) -> Page:
        """The newest ``limit`` messages with id < ``before_id``, oldest first, and the last id."""
        return await self._read(_BEFORE, room=room.value, pivot=before_id, limit=max(limit, 0))

    async def check(self) -> None:
        """Raise StorageUnavailable unless a trivial query on the schema answers."""
        await self._read(_LATEST, room="", limit=0)

    async def aclose(self) -> None:
        """Finish queued appends, then refuse every later call with StorageUnavailable."""
        self._closed = True
        await self._writer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageUnavailable(f"{self._store} is closed")

    async def _read(self, query: Select[Any], **params: Any) -> Page:
        self._check_open()

        async def select_page() -> Page:
            async with self._reader.connect() as conn:
                return _page((await conn.execute(query, params)).all())

        return await guarded(self._store, select_page)


@asynccontextmanager
async def open_sql_log(url: str, retention: int = 1000) -> AsyncIterator[SqlMessageLog]:
    """A SqlMessageLog on ``url`` (``sqlite:///path.db`` or ``postgresql://...``).

    Creates the engine on entry and disposes it on exit. The schema must exist
    already: run ``flychat migrate``.
    """
    engine = create_sql_engine(url)
    writer = create_sqlite_writer(url) if engine.dialect.name == "sqlite" else None
    inline = writer is not None and not sqlite_commit_syncs(url)
    log = SqlMessageLog(engine, retention, writer, inline)
    try:
        yield log
    finally:
        await log.aclose()
        await engine.dispose()
