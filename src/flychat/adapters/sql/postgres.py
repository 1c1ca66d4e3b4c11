"""PostgreSQL appends: a batch of rooms is one prepared statement on a raw asyncpg connection.

The statement is fixed, so SQLAlchemy's compile, result and greenlet layers would only
add CPU to every batch: the appender keeps a few asyncpg connections of its own and
sends the batch as arrays, one round trip and one commit per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from flychat.adapters.sql.engine import PG_COMMAND_SECONDS, PG_CONNECT_SECONDS, unavailable
from flychat.domain.model import Draft, Message, to_millis

WRITER_CONNECTIONS = 4
SPREAD_SECONDS = 0.02
LOCK_TIMEOUT_MS = 50
LOCKED_RETRY_SECONDS = 0.01
APPEND = """
WITH bumped AS (
    INSERT INTO rooms (room, last_id)
    SELECT * FROM unnest($1::text[], $2::bigint[])
    ON CONFLICT (room) DO UPDATE SET last_id = rooms.last_id + EXCLUDED.last_id
    RETURNING room, last_id
), inserted AS (
    INSERT INTO messages (room, id, provisional_id, sender, text, date_ms, user_sub)
    SELECT t.room, b.last_id + t.back, t.pid, t.sender, t.body, t.date_ms, t.user_sub
    FROM unnest(
        $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[]
    ) AS t(room, back, pid, sender, body, date_ms, user_sub)
    JOIN bumped AS b ON b.room = t.room
), trimmed AS (
    DELETE FROM messages AS m USING bumped AS b
    WHERE m.room = b.room AND m.id <= b.last_id - $10
)
SELECT room, last_id FROM bumped
"""
"""One statement (atomic on its own) for a batch of rooms, listed once each in sorted
order: bump each room's counter by its number of drafts (which locks the room's row
until the statement ends; sorted, so two processes never lock rooms in opposite
orders), insert the rows numbered back from the new counter (``back`` is 0 for a
room's last draft), and trim the rows beyond retention. The trim sees the table as
it was before the statement, so a room's batch larger than the retention trims its
own oldest rows with ``TRIM``."""
TRIM = "DELETE FROM messages WHERE room = $1 AND id <= $2"
WRITER_SETTINGS = {
    "lock_timeout": f"{LOCK_TIMEOUT_MS}ms",
    "enable_bitmapscan": "off",
    "enable_seqscan": "off",
    "plan_cache_mode": "force_generic_plan",
}
"""Session settings of the appender's connections. The statement's plan does not depend
on its arrays, so it is planned once per connection: left to choose, PostgreSQL planned
it again on every execution (0.57 ms of backend CPU per 16-row statement, 0.30 ms with
the generic plan). Without bitmap scans the trim walks
an index with a plain index scan, which marks the index entries of rows it finds
deleted as dead, so the next trims skip them; a bitmap scan visits every dead entry
below the cut again on every statement until VACUUM (5 ms per statement after ~35,000
trimmed rows in one room, against 0.1 ms). Without sequential scans the trim never
reads the whole table: the generic plan cannot tell rooms apart, and PostgreSQL planned
the trim as a Seq Scan on an empty table (a new database) and again after ANALYZE of a
table holding one room: 30 % of the backend's CPU under load (perf), 90-95 µs of server
CPU per POST against 35-63 µs with it off. In those plans it walks the room's
(room, provisional_id) entries rather than only the rows it deletes."""
_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
)
"""Errors after which the connection is gone or unusable (a server that ends the session
while a statement is being prepared can leave the protocol mid-operation, which asyncpg
reports as an InternalClientError): reconnect and retry once (not after
PG_COMMAND_SECONDS ran out: that statement fails at once)."""
_ADAPTER_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")
_Stored = list[tuple[str, Message]]


def connect_params(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg.connect keywords for the engine's database, with flychat's timeouts."""
    _, params = engine.dialect.create_connect_args(engine.url)
    for key in _ADAPTER_ONLY:
        params.pop(key, None)
    settings = {**params.pop("server_settings", {}), **WRITER_SETTINGS}
    return {
        **params,
        "server_settings": settings,
        "timeout": PG_CONNECT_SECONDS,
        "command_timeout": PG_COMMAND_SECONDS,
    }


def _kept(draft: Draft) -> Draft:
    date = draft.date
    if date.tzinfo is UTC and date.microsecond % 1000 == 0:
        return draft
    return Draft(draft.provisional_id, draft.sender, draft.text, to_millis(date), draft.user)


def _millis(draft: Draft) -> int:
    date = draft.date
    return (
        (date.toordinal() - 719163) * 86_400_000
        + (date.hour * 3600 + date.minute * 60 + date.second) * 1000
        + date.microsecond // 1000
    )


class _Duplicate(Exception):
    """A provisional id of the statement's batch is stored already; nothing was written."""


class _Locked(Exception):
    """A room row stayed locked by another transaction for LOCK_TIMEOUT_MS; nothing was written."""


@dataclass(eq=False, slots=True)
class _Call:
    rooms: dict[str, list[Draft]]
    done: asyncio.Future[_Stored | None]


class PostgresAppender:
    """Stores room batches on up to ``connections`` asyncpg connections of its own
    (opened on first use, kept until ``close``).

    Batches handed in while a statement runs go together into the next ``APPEND``
    statement, so rooms share round trips and commits. Each room must have at most one
    batch in hand at a time (the RoomWriter's per-room queue sees to it). A statement
    still running after ``SPREAD_SECONDS`` lets the next batches start on another
    connection. A room row locked elsewhere for longer than ``LOCK_TIMEOUT_MS`` (the
    connections' ``lock_timeout``) fails the statement, which wrote nothing; its rooms
    are then sent one per statement, and the locked room's is retried until it gets
    the lock (for at most PG_COMMAND_SECONDS), so rooms never wait for another room's
    lock for long. A batch with an already stored provisional id answers None and
    writes nothing; the others sent with it are then stored one per statement. A
    connection that breaks is dropped with every idle one (they likely broke with it)
    and the statement is tried once more on a new connection.
    """

    def __init__(
        self, engine: AsyncEngine, store: str, retention: int, connections: int = WRITER_CONNECTIONS
    ) -> None:
        self._params = connect_params(engine)
        self._store = store
        self._retention = retention
        self._connections = connections
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[Any] = []
        self._waiting: list[_Call] = []
        self._lanes: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def store(self, batch: dict[str, list[Draft]]) -> _Stored | None:
        """Store each room's drafts as its next messages, or None when a provisional id exists."""
        loop = asyncio.get_running_loop()
        call = _Call(batch, loop.create_future())
        self._waiting.append(call)
        if not self._lanes:
            self._start_lane()
        elif self._timer is None and len(self._lanes) < self._connections:
            self._timer = loop.call_later(SPREAD_SECONDS, self._spread)
        return await call.done

    async def close(self) -> None:
        """Close the idle connections (call once nothing is being stored)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=2)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                conn.terminate()

    def _start_lane(self) -> None:
        lane = asyncio.get_running_loop().create_task(self._lane())
        self._lanes.add(lane)
        lane.add_done_callback(self._lanes.discard)  # also when cancelled before it ran

    def _spread(self) -> None:
        self._timer = None
        if self._waiting and len(self._lanes) < self._connections:
            self._start_lane()

    async def _lane(self) -> None:
        try:
            while self._waiting:
                calls, self._waiting = self._waiting, []
                live = [call for call in calls if not call.done.done()]
                try:
                    await self._answer(live)
                except BaseException:
                    for call in live:
                        call.done.cancel()
                    raise
        finally:
            self._lanes.discard(asyncio.current_task())

    async def _answer(self, calls: list[_Call]) -> None:
        if len(calls) == 1:
            await self._answer_alone(calls[0])
            return
        rooms = {room: drafts for call in calls for room, drafts in call.rooms.items()}
        try:
            stored = await self._statement(rooms)
        except (_Duplicate, _Locked):
            await asyncio.gather(*(self._answer_alone(call) for call in calls))
            return
        except Exception as exc:
            for call in calls:
                if not call.done.done():
                    call.done.set_exception(exc)
            return
        for call in calls:
            if not call.done.done():
                call.done.set_result([(room, m) for room in call.rooms for m in stored[room]])

    async def _answer_alone(self, call: _Call) -> None:
        deadline = time.monotonic() + PG_COMMAND_SECONDS
        while not call.done.done():
            try:
                stored = await self._statement(call.rooms)
            except _Duplicate:
                call.done.set_result(None)
            except _Locked:
                if time.monotonic() > deadline:
                    locked = ", ".join(call.rooms)
                    reason = f"room {locked} stayed locked by another transaction"
                    call.done.set_exception(unavailable(self._store, TimeoutError(reason)))
                else:
                    await asyncio.sleep(LOCKED_RETRY_SECONDS)
            except Exception as exc:
                call.done.set_exception(exc)
            else:
                call.done.set_result([(room, m) for room in call.rooms for m in stored[room]])

    async def _statement(self, rooms: dict[str, list[Draft]]) -> dict[str, list[Message]]:
        async with self._slots:
            return await self._on_a_connection(rooms)

    async def _on_a_connection(self, rooms: dict[str, list[Draft]]) -> dict[str, list[Message]]:
        for retry in (False, True):
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                stored = await self._append(conn, rooms)
            except asyncpg.UniqueViolationError:
                self._idle.append(conn)
                raise _Duplicate from None
            except asyncpg.LockNotAvailableError:
                self._idle.append(conn)
                raise _Locked from None
            except TimeoutError as exc:
                self._drop(conn)
                raise unavailable(self._store, exc) from exc
            except _LOST as exc:
                self._drop(conn)
                self._drop_idle()
                if retry:
                    raise unavailable(self._store, exc) from exc
                continue
            except asyncpg.PostgresError as exc:
                self._idle.append(conn)
                raise unavailable(self._store, exc) from exc
            except BaseException:
                self._drop(conn)
                raise
            self._idle.append(conn)
            return stored
        raise AssertionError("unreachable: the retry either returns or raises")

    async def _connect(self) -> Any:
        try:
            return await asyncpg.connect(**self._params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise unavailable(self._store, exc) from exc

    async def _append(self, conn: Any, batch: dict[str, list[Draft]]) -> dict[str, list[Message]]:
        names = sorted(batch)
        kept = {room: [_kept(d) for d in batch[room]] for room in names}
        rows = [
            (room, i - len(drafts), d)
            for room, drafts in kept.items()
            for i, d in enumerate(drafts, 1)
        ]
        records = await conn.fetch(
            APPEND,
            names,
            [len(kept[room]) for room in names],
            [room for room, _, _ in rows],
            [back for _, back, _ in rows],
            [d.provisional_id for _, _, d in rows],
            [d.sender for _, _, d in rows],
            [d.text for _, _, d in rows],
            [_millis(d) for _, _, d in rows],
            [d.user for _, _, d in rows],
            self._retention,
        )
        stored: dict[str, list[Message]] = {}
        for room, last_id in records:
            drafts = kept[room]
            if len(drafts) > self._retention:
                await conn.execute(TRIM, room, last_id - self._retention)
            first = last_id - len(drafts) + 1
            stored[room] = [Message.from_draft(first + i, d) for i, d in enumerate(drafts)]
        return stored

    @staticmethod
    def _drop(conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.terminate()

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            self._drop(conn)
