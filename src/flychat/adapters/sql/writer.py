"""Group commit for the SQL log: concurrent appends share one transaction.

On PostgreSQL each room's appends queue on their own, and the batches of rooms
that wait at the same time share one statement (see ``PostgresAppender``); on
SQLite, where every write takes the database lock anyway, one batch holds every
room with appends waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from flychat.adapters.sql.engine import SQLITE_BUSY_SECONDS, describe, guarded, unavailable
from flychat.adapters.sql.postgres import PostgresAppender
from flychat.adapters.sql.tables import messages
from flychat.domain.errors import AppendConflict
from flychat.domain.model import Draft, Message, to_millis

log = logging.getLogger(__name__)

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
CHECKPOINT_EVERY = 500
RESTART_ATTEMPTS = 20
RESTART_RETRY_SECONDS = 0.005
"""A ``RESTART`` checkpoint finds another process's checkpoint running (busy at once):
it is tried again this many times, this far apart, in the writer thread."""
_BUMP_ROOMS = 64
"""Rooms per counter upsert (two parameters each, far below SQLite's limit)."""
BUSY_MS = int(SQLITE_BUSY_SECONDS * 1000)


class _Locked:
    """Another connection holds the SQLite write lock: write in the thread instead."""


_LOCKED = _Locked()
_Stored = list[tuple[str, Message]]


@functools.lru_cache(maxsize=64)
def _sqlite_bump(rooms: int) -> str:
    """One upsert that moves the counters of ``rooms`` rooms and returns each new last id."""
    values = ", ".join(["(?, ?)"] * rooms)
    return (
        f"INSERT INTO rooms (room, last_id) VALUES {values} ON CONFLICT (room) "
        "DO UPDATE SET last_id = rooms.last_id + excluded.last_id RETURNING room, last_id"
    )


_SQLITE_INSERT = (
    "INSERT INTO messages (room, id, provisional_id, sender, text, date_ms, user_sub) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_TRIM = "DELETE FROM messages WHERE room = ? AND id <= ?"
_FIND = select(*MESSAGE_COLUMNS).where(
    _ROOM, messages.c.provisional_id.in_(bindparam("pids", expanding=True))
)


def wal_generation(database: str | None) -> bytes | None:
    """The checkpoint sequence number and salts of the database's WAL header, which change
    each time the WAL starts over (None without a readable WAL file)."""
    if not database or database == ":memory:":
        return None
    try:
        with open(f"{database}-wal", "rb") as wal:
            header = wal.read(24)
    except OSError:
        return None
    return header[12:24] if len(header) == 24 else None


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
    (which locks the room row), insert the rows, trim beyond retention (on PostgreSQL
    one statement, shared with other rooms' batches). A provisional id that is already
    stored makes the insert fail; the batch is rolled back, the
    stored messages are answered from the table and the rest is retried, so no id is
    ever skipped. With ``sqlite_writer`` (SQLite) one batch runs at a time per process,
    a batch spans rooms, and its transaction runs whole on one connection, inline or
    in one worker thread (see ``_store_sqlite_batch``).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        reader: AsyncEngine,
        retention: int,
        sqlite_writer: Engine | None = None,
        sqlite_inline: bool = True,
    ) -> None:
        self._reader = reader
        self._store = describe(engine.url)
        self._retention = retention
        self._postgres = (
            PostgresAppender(engine, self._store, retention) if sqlite_writer is None else None
        )
        self._sqlite = sqlite_writer
        self._raw: Any = None
        self._checkpointer: Any = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._wal_generation: bytes | None = None
        self._catch_up = False
        self._busy_ms = -1
        self._inline = sqlite_inline
        self._commits = 0
        self._exclusive = sqlite_writer is not None
        self._thread = (
            ThreadPoolExecutor(1, thread_name_prefix="flychat-sqlite-writer")
            if sqlite_writer is not None
            else None
        )
        self._lock: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self._exclusive else nullcontext()
        )
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
            return await done
        except asyncio.CancelledError:
            done.add_done_callback(_consume)
            raise

    async def wait_idle(self) -> None:
        """Wait until every queued append has been written or failed."""
        while self._drains:
            await asyncio.gather(*self._drains.values(), return_exceptions=True)

    async def close(self) -> None:
        """Finish queued appends, then release the writer's own connections (and thread)."""
        await self.wait_idle()
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        if self._postgres is not None:
            await self._postgres.close()
        if self._thread is not None and self._sqlite is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._release)
            self._thread.shutdown(wait=False)

    def _release(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None
            self._busy_ms = -1
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._sqlite is not None:
            self._sqlite.dispose()

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
        if self._postgres is not None:
            return await self._postgres.store(batch)
        return await self._store_sqlite_batch(batch)

    async def _store_sqlite_batch(
        self, batch: dict[str, list[Draft]]
    ) -> list[tuple[str, Message]] | None:
        """Write on the event loop when the database lock is free, else in the writer thread.

        With ``synchronous=normal`` a WAL commit does not wait for the disk, so a batch
        costs less inline than the two thread hand-offs around it. A lock held by
        another process (``database is locked`` at once, busy timeout 0 inline) or a
        commit that syncs (``synchronous=full``) goes to the thread, which waits up to
        the busy timeout. Every CHECKPOINT_EVERY commits a WAL checkpoint starts in the
        thread on a connection of its own; nothing waits for it (see ``_checkpoint``).
        """
        assert self._thread is not None
        loop = asyncio.get_running_loop()
        async with self._lock:
            stored = self._store_in_sqlite(batch, inline=True) if self._inline else _LOCKED
            if isinstance(stored, _Locked):
                stored = await loop.run_in_executor(self._thread, self._store_in_sqlite, batch)
            if isinstance(stored, _Locked):
                raise AssertionError("the writer thread waits for the lock")
            self._commits += 1
            if self._catch_up:
                self._catch_up = False
                if self._inline:
                    self._finish_checkpoint()
                else:
                    await loop.run_in_executor(self._thread, self._finish_checkpoint)
            elif self._commits >= CHECKPOINT_EVERY and self._checkpointing is None:
                self._commits = 0
                self._checkpointing = loop.run_in_executor(self._thread, self._checkpoint)
                self._checkpointing.add_done_callback(self._checkpointed)
        return stored

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = None
        self._catch_up = True
        if not done.cancelled() and done.exception() is not None:
            log.warning("SQLite WAL checkpoint failed: %r", done.exception())

    def _checkpoint(self) -> None:
        """Copy the WAL into the database without blocking writers.

        On a connection of its own, so appends go on inline meanwhile (copying 500
        commits and syncing the file takes 8-20 ms, which every 500th append used to
        wait for). What they wrote meanwhile is copied by ``_finish_checkpoint`` after
        the next commit (under 1 ms); only then is the WAL copied whole, so the next
        write restarts it from its start and the file stays the size of 500 commits.

        When the WAL has not started over since this process's previous checkpoint
        (other processes wrote between every checkpoint and the next write), the
        checkpoint is a ``RESTART``: it holds off every writer until the WAL is copied
        whole and no reader uses it, so the next write starts it over.
        """
        assert self._sqlite is not None
        generation = wal_generation(self._sqlite.url.database)
        stuck = generation is not None and generation == self._wal_generation
        self._wal_generation = generation
        with contextlib.suppress(sqlite3.Error, DBAPIError):
            if self._checkpointer is None:
                dialect = self._sqlite.dialect
                args, kwargs = dialect.create_connect_args(self._sqlite.url)
                self._checkpointer = dialect.loaded_dbapi.connect(*args, **kwargs)
            if not stuck:
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").close()
                return
            for _ in range(RESTART_ATTEMPTS):
                cursor = self._checkpointer.execute("PRAGMA wal_checkpoint(RESTART)")
                busy, *_ = cursor.fetchone()
                cursor.close()
                if not busy:
                    return
                time.sleep(RESTART_RETRY_SECONDS)

    def _finish_checkpoint(self) -> None:
        """Copy the rest of the WAL, between two commits on the writer's connection."""
        with contextlib.suppress(sqlite3.Error, DBAPIError):
            self._connection().cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").close()

    def _connection(self) -> Any:
        if self._raw is None:
            assert self._sqlite is not None
            self._raw = self._sqlite.raw_connection()
            self._raw.cursor().execute("PRAGMA wal_autocheckpoint = 0").close()
        return self._raw

    def _store_in_sqlite(
        self, batch: dict[str, list[Draft]], inline: bool = False
    ) -> _Stored | _Locked | None:
        """One transaction on the writer's own sqlite3 connection.

        Plain DB-API calls: the statements are fixed, so SQLAlchemy's compile and
        result layers would only add CPU to every batch. None: a provisional id
        exists; ``_LOCKED`` (inline only): another connection holds the write lock.
        """
        try:
            cursor = self._connection().cursor()
        except (sqlite3.Error, DBAPIError) as exc:
            raise unavailable(self._store, exc) from exc
        try:
            busy_ms = 0 if inline else BUSY_MS
            if busy_ms != self._busy_ms:
                cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
                self._busy_ms = busy_ms
            try:
                cursor.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                if inline:
                    return _LOCKED
                raise
            stored = self._store_rows(cursor, batch)
            cursor.execute("COMMIT")
            return stored
        except sqlite3.IntegrityError:
            cursor.execute("ROLLBACK")
            return None
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                cursor.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                cursor.close()
            self._raw.invalidate()
            self._raw = None
            self._busy_ms = -1
            raise unavailable(self._store, exc) from exc
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                cursor.execute("ROLLBACK")
            raise
        finally:
            with contextlib.suppress(sqlite3.Error):
                cursor.close()

    def _store_rows(self, cursor: Any, batch: dict[str, list[Draft]]) -> list[tuple[str, Message]]:
        """Every room's counter in one upsert, every row in one ``executemany``, then trims."""
        stored: list[tuple[str, Message]] = []
        rows: list[tuple[Any, ...]] = []
        trims: list[tuple[str, int]] = []
        groups = list(batch.items())
        for start in range(0, len(groups), _BUMP_ROOMS):
            group = groups[start : start + _BUMP_ROOMS]
            counts = [value for room, drafts in group for value in (room, len(drafts))]
            last_ids = dict(cursor.execute(_sqlite_bump(len(group)), counts).fetchall())
            for room, drafts in group:
                last_id = int(last_ids[room])
                first = last_id - len(drafts) + 1
                for i, draft in enumerate(drafts):
                    kept = draft if draft.date.microsecond % 1000 == 0 else stored_draft(draft)
                    message = Message.from_draft(first + i, kept)
                    rows.append(
                        (
                            room,
                            message.id,
                            kept.provisional_id,
                            kept.sender,
                            kept.text,
                            to_ms(kept.date),
                            kept.user,
                        )
                    )
                    stored.append((room, message))
                if last_id > self._retention:
                    trims.append((room, last_id - self._retention))
        cursor.executemany(_SQLITE_INSERT, rows)
        for trim in trims:
            cursor.execute(_SQLITE_TRIM, trim)
        return stored

    async def _find(self, room: str, provisional_ids: list[str]) -> list[Message]:
        async with self._reader.connect() as conn:
            result = await conn.execute(_FIND, {"room": room, "pids": provisional_ids})
            return [from_row(row) for row in result]
