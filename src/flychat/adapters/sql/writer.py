"""Group commit for the SQL log: concurrent appends share one transaction.

On PostgreSQL a batch holds one room (rooms never wait for each other's row
locks); on SQLite, where every write takes the database lock anyway, a batch
holds every room with appends waiting.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from flychat.adapters.sql.engine import describe, guarded
from flychat.adapters.sql.tables import messages, rooms
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
    messages.c.user_sub,
)
_ROOM = messages.c.room == bindparam("room")
_TRIM = delete(messages).where(_ROOM, messages.c.id <= bindparam("oldest"))
_PG_APPEND = text(
    """
    WITH bumped AS (
        INSERT INTO rooms (room, last_id) VALUES (:room, :count)
        ON CONFLICT (room) DO UPDATE SET last_id = rooms.last_id + EXCLUDED.last_id
        RETURNING last_id
    ), inserted AS (
        INSERT INTO messages (room, id, provisional_id, sender, text, date_ms, user_sub)
        SELECT :room, bumped.last_id - :count + t.ord, t.pid, t.sender, t.body, t.date_ms,
            t.user_sub
        FROM bumped, unnest(
            CAST(:pids AS text[]), CAST(:senders AS text[]),
            CAST(:texts AS text[]), CAST(:dates AS bigint[]), CAST(:users AS text[])
        ) WITH ORDINALITY AS t(pid, sender, body, date_ms, user_sub, ord)
        RETURNING id
    ), trimmed AS (
        DELETE FROM messages
        WHERE room = :room AND id <= (SELECT last_id FROM bumped) - :retention
    )
    SELECT last_id FROM bumped
    """
)
"""One PostgreSQL statement (atomic on its own): bump the counter, insert, trim older rows.

The trim sees the table as it was before the statement, so a batch larger than the
retention trims its own oldest rows with a second statement.
"""
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
    message_id, provisional_id, sender, text, date_ms, user = tuple(row)[-6:]
    stored = EPOCH + timedelta(milliseconds=date_ms)
    return Message(int(message_id), provisional_id, sender, text, stored, user)


def _consume(done: asyncio.Future[Message]) -> None:
    if not done.cancelled():
        done.exception()


@dataclass(eq=False, slots=True)
class _Pending:
    room: str
    draft: Draft
    done: asyncio.Future[Message]


class RoomWriter:
    """Appends in batches: while a transaction runs, later appends queue for the next.

    A batch is one transaction: per room, bump its counter by the number of drafts
    (which locks the room row), insert the rows, trim beyond retention. A provisional
    id that is already stored makes the insert fail; the batch is rolled back, the
    stored messages are answered from the table and the rest is retried, so no id is
    ever skipped. With ``sqlite_writer`` (SQLite) one batch runs at a time per process,
    a batch spans rooms, and its transaction runs whole in one worker thread.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        reader: AsyncEngine,
        retention: int,
        sqlite_writer: Engine | None = None,
    ) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._reader = reader
        self._store = describe(engine.url)
        self._retention = retention
        self._sqlite = sqlite_writer
        self._exclusive = sqlite_writer is not None
        self._thread = (
            ThreadPoolExecutor(1, thread_name_prefix="flychat-sqlite-writer")
            if sqlite_writer is not None
            else None
        )
        self._lock: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self._exclusive else nullcontext()
        )
        upsert = sqlite_insert(rooms).values(room=bindparam("room"), last_id=bindparam("count"))
        self._bump = upsert.on_conflict_do_update(
            index_elements=[rooms.c.room],
            set_={"last_id": rooms.c.last_id + upsert.excluded.last_id},
        ).returning(rooms.c.last_id)
        self._queues: dict[str, list[_Pending]] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}

    async def append(self, room: str, draft: Draft) -> Message:
        """Queue the draft for the room's next batch and wait for its stored message."""
        done: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        queue = "" if self._exclusive else room
        self._queues.setdefault(queue, []).append(_Pending(room, draft, done))
        if queue not in self._drains:
            self._drains[queue] = asyncio.create_task(self._drain(queue))
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            done.add_done_callback(_consume)
            raise

    async def wait_idle(self) -> None:
        """Wait until every queued append has been written or failed."""
        while self._drains:
            await asyncio.gather(*self._drains.values(), return_exceptions=True)

    async def close(self) -> None:
        """Finish queued appends, then release the SQLite writer thread and connection."""
        await self.wait_idle()
        if self._thread is not None and self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite.dispose)
            self._thread.shutdown(wait=False)

    async def _drain(self, queue: str) -> None:
        try:
            while pending := self._queues.pop(queue, None):
                if len(pending) > MAX_BATCH:
                    self._queues[queue] = pending[MAX_BATCH:]
                    pending = pending[:MAX_BATCH]
                try:
                    await self._write(pending)
                except Exception as exc:
                    for item in pending:
                        if not item.done.done():
                            item.done.set_exception(exc)
                except BaseException:
                    for item in pending:
                        item.done.cancel()
                    raise
        finally:
            del self._drains[queue]

    async def _write(self, pending: list[_Pending]) -> None:
        waiting: dict[tuple[str, str], list[_Pending]] = {}
        for item in pending:
            waiting.setdefault((item.room, item.draft.provisional_id), []).append(item)
        while waiting:
            batch: dict[str, list[Draft]] = {}
            for (room, _), items in waiting.items():
                batch.setdefault(room, []).append(items[0].draft)
            stored = await guarded(self._store, functools.partial(self._insert, batch))
            if stored is None:
                stored = await self._already_stored(batch)
            for room, message in stored:
                for item in waiting.pop((room, message.provisional_id), ()):
                    if not item.done.done():
                        item.done.set_result(message)

    async def _already_stored(self, batch: dict[str, list[Draft]]) -> list[tuple[str, Message]]:
        found: list[tuple[str, Message]] = []
        for room, drafts in batch.items():
            pids = [d.provisional_id for d in drafts]
            stored = await guarded(self._store, functools.partial(self._find, room, pids))
            found.extend((room, message) for message in stored)
        if not found:
            raise AppendConflict(f"message id conflict in rooms {', '.join(batch)}")
        return found

    async def _insert(self, batch: dict[str, list[Draft]]) -> list[tuple[str, Message]] | None:
        """Store the drafts in one transaction, or return None when a provisional id exists."""
        try:
            if self._thread is not None:
                async with self._lock:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(self._thread, self._store_in_sqlite, batch)
            return await self._store_in_postgresql(batch)
        except IntegrityError:
            return None

    async def _store_in_postgresql(
        self, batch: dict[str, list[Draft]]
    ) -> list[tuple[str, Message]]:
        stored: list[tuple[str, Message]] = []
        async with self._autocommit.connect() as conn:
            for room, drafts in batch.items():
                params = {
                    "room": room,
                    "count": len(drafts),
                    "retention": self._retention,
                    "pids": [d.provisional_id for d in drafts],
                    "senders": [d.sender for d in drafts],
                    "texts": [d.text for d in drafts],
                    "dates": [to_ms(d.date) for d in drafts],
                    "users": [d.user for d in drafts],
                }
                last_id = int((await conn.execute(_PG_APPEND, params)).scalar_one())
                if len(drafts) > self._retention:
                    await conn.execute(_TRIM, {"room": room, "oldest": last_id - self._retention})
                first = last_id - len(drafts) + 1
                stored.extend(
                    (room, Message.from_draft(first + i, stored_draft(d)))
                    for i, d in enumerate(drafts)
                )
        return stored

    def _store_in_sqlite(self, batch: dict[str, list[Draft]]) -> list[tuple[str, Message]]:
        assert self._sqlite is not None
        with self._sqlite.begin() as conn:
            return self._store_batch(conn, batch)

    def _store_batch(
        self, conn: Connection, batch: dict[str, list[Draft]]
    ) -> list[tuple[str, Message]]:
        stored: list[tuple[str, Message]] = []
        for room, drafts in batch.items():
            last_id = int(
                conn.execute(self._bump, {"room": room, "count": len(drafts)}).scalar_one()
            )
            first = last_id - len(drafts) + 1
            rows = [
                {
                    "room": room,
                    "id": first + i,
                    "provisional_id": d.provisional_id,
                    "sender": d.sender,
                    "text": d.text,
                    "date_ms": to_ms(d.date),
                    "user_sub": d.user,
                }
                for i, d in enumerate(drafts)
            ]
            conn.execute(insert(messages), rows)
            if last_id > self._retention:
                conn.execute(_TRIM, {"room": room, "oldest": last_id - self._retention})
            stored.extend(
                (room, Message.from_draft(first + i, stored_draft(d))) for i, d in enumerate(drafts)
            )
        return stored

    async def _find(self, room: str, provisional_ids: list[str]) -> list[Message]:
        async with self._reader.connect() as conn:
            result = await conn.execute(_FIND, {"room": room, "pids": provisional_ids})
            return [from_row(row) for row in result]
