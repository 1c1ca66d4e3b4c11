"""Group commit for the SQL log: concurrent appends to one room share one transaction."""

from __future__ import annotations

import asyncio
import functools
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from flychat.adapters.sql_engine import describe, guarded
from flychat.adapters.sql_tables import messages, rooms
from flychat.domain.errors import AppendConflict
from flychat.domain.model import Draft, Message, to_millis

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_BATCH = 256
MESSAGE_COLUMNS = (
    messages.c.id,
    messages.c.provisional_id,
    messages.c.sender,
    messages.c.text,
    messages.c.date_ms,
)
_ROOM = messages.c.room == bindparam("room")
_TRIM = delete(messages).where(_ROOM, messages.c.id <= bindparam("oldest"))
_FIND = select(*MESSAGE_COLUMNS).where(
    _ROOM, messages.c.provisional_id.in_(bindparam("pids", expanding=True))
)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch (UTC), truncated like the domain's dates."""
    return (to_millis(moment) - EPOCH) // timedelta(milliseconds=1)


def stored_draft(draft: Draft) -> Draft:
    """The draft as the store keeps it: its date truncated to milliseconds, in UTC."""
    return replace(draft, date=to_millis(draft.date))


def from_row(row: Any) -> Message:
    """The Message of a row ending in MESSAGE_COLUMNS."""
    message_id, provisional_id, sender, text, date_ms = tuple(row)[-5:]
    stored = EPOCH + timedelta(milliseconds=date_ms)
    return Message(int(message_id), provisional_id, sender, text, stored)


def _consume(done: asyncio.Future[Message]) -> None:
    if not done.cancelled():
        done.exception()


@dataclass(eq=False, slots=True)
class _Pending:
    draft: Draft
    done: asyncio.Future[Message]


class RoomWriter:
    """Appends in batches: while a room's transaction runs, later appends queue for the next.

    A batch is one transaction: bump the room's counter by the batch size (which locks
    the room row), insert the rows, trim beyond retention. A provisional id that is
    already stored makes the insert fail; the batch is rolled back, the stored messages
    are answered from the table and the rest is retried, so no id is ever skipped.
    ``exclusive`` (SQLite) runs one batch at a time per process.
    """

    def __init__(
        self, engine: AsyncEngine, reader: AsyncEngine, retention: int, exclusive: bool
    ) -> None:
        self._engine = engine
        self._reader = reader
        self._store = describe(engine.url)
        self._retention = retention
        self._lock: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if exclusive else nullcontext()
        )
        upsert = (sqlite_insert if exclusive else pg_insert)(rooms).values(
            room=bindparam("room"), last_id=bindparam("count")
        )
        self._bump = upsert.on_conflict_do_update(
            index_elements=[rooms.c.room],
            set_={"last_id": rooms.c.last_id + upsert.excluded.last_id},
        ).returning(rooms.c.last_id)
        self._queues: dict[str, list[_Pending]] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}

    async def append(self, room: str, draft: Draft) -> Message:
        """Queue the draft for the room's next batch and wait for its stored message."""
        done: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(room, []).append(_Pending(draft, done))
        if room not in self._drains:
            self._drains[room] = asyncio.create_task(self._drain(room))
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            done.add_done_callback(_consume)
            raise

    async def wait_idle(self) -> None:
        """Wait until every queued append has been written or failed."""
        while self._drains:
            await asyncio.gather(*self._drains.values(), return_exceptions=True)

    async def _drain(self, room: str) -> None:
        try:
            while pending := self._queues.pop(room, None):
                if len(pending) > MAX_BATCH:
                    self._queues[room] = pending[MAX_BATCH:]
                    pending = pending[:MAX_BATCH]
                try:
                    await self._write(room, pending)
                except Exception as exc:
                    for item in pending:
                        if not item.done.done():
                            item.done.set_exception(exc)
                except BaseException:
                    for item in pending:
                        item.done.cancel()
                    raise
        finally:
            del self._drains[room]

    async def _write(self, room: str, pending: list[_Pending]) -> None:
        waiting: dict[str, list[_Pending]] = {}
        for item in pending:
            waiting.setdefault(item.draft.provisional_id, []).append(item)
        while waiting:
            drafts = [items[0].draft for items in waiting.values()]
            stored = await guarded(self._store, functools.partial(self._insert, room, drafts))
            if stored is None:
                find = functools.partial(self._find, room, list(waiting))
                stored = await guarded(self._store, find)
                if not stored:
                    raise AppendConflict(f"message id conflict in room {room}")
            for message in stored:
                for item in waiting.pop(message.provisional_id, ()):
                    if not item.done.done():
                        item.done.set_result(message)

    async def _insert(self, room: str, drafts: list[Draft]) -> list[Message] | None:
        """Store the drafts in one transaction, or return None when a provisional id exists."""
        rows = [
            {
                "room": room,
                "provisional_id": d.provisional_id,
                "sender": d.sender,
                "text": d.text,
                "date_ms": to_ms(d.date),
            }
            for d in drafts
        ]
        try:
            async with self._lock, self._engine.begin() as conn:
                bumped = await conn.execute(self._bump, {"room": room, "count": len(rows)})
                last_id = int(bumped.scalar_one())
                for message_id, row in enumerate(rows, start=last_id - len(rows) + 1):
                    row["id"] = message_id
                await conn.execute(insert(messages), rows)
                if last_id > self._retention:
                    oldest = last_id - self._retention
                    await conn.execute(_TRIM, {"room": room, "oldest": oldest})
        except IntegrityError:
            return None
        first = last_id - len(drafts) + 1
        return [Message.from_draft(first + i, stored_draft(d)) for i, d in enumerate(drafts)]

    async def _find(self, room: str, provisional_ids: list[str]) -> list[Message]:
        async with self._reader.connect() as conn:
            result = await conn.execute(_FIND, {"room": room, "pids": provisional_ids})
            return [from_row(row) for row in result]
