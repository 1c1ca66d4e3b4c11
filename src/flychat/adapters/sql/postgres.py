"""PostgreSQL appends: each room's batch is one prepared statement on a raw asyncpg connection.

The statement is fixed, so SQLAlchemy's compile, result and greenlet layers would only
add CPU to every batch: the appender keeps a few asyncpg connections of its own and
sends the batch as arrays, one round trip per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC
from typing import Any

import asyncpg
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from flychat.adapters.sql.engine import PG_COMMAND_SECONDS, PG_CONNECT_SECONDS, unavailable
from flychat.domain.model import Draft, Message, to_millis

WRITER_CONNECTIONS = 4
APPEND = """
WITH bumped AS (
    INSERT INTO rooms (room, last_id) VALUES ($1, $2)
    ON CONFLICT (room) DO UPDATE SET last_id = rooms.last_id + EXCLUDED.last_id
    RETURNING last_id
), inserted AS (
    INSERT INTO messages (room, id, provisional_id, sender, text, date_ms, user_sub)
    SELECT $1, bumped.last_id - $2 + t.ord, t.pid, t.sender, t.body, t.date_ms, t.user_sub
    FROM bumped, unnest($4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])
        WITH ORDINALITY AS t(pid, sender, body, date_ms, user_sub, ord)
), trimmed AS (
    DELETE FROM messages WHERE room = $1 AND id <= (SELECT last_id FROM bumped) - $3
)
SELECT last_id FROM bumped
"""
"""One statement (atomic on its own): bump the room's counter by the batch size (which
locks the room's row until the statement ends), insert the rows numbered from it, and
trim the rows beyond retention. The trim sees the table as it was before the statement,
so a batch larger than the retention trims its own oldest rows with ``TRIM``."""
TRIM = "DELETE FROM messages WHERE room = $1 AND id <= $2"
_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    OSError,
)
"""Errors after which the connection is gone (or going): reconnect and retry once."""
_ADAPTER_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


def connect_params(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg.connect keywords for the engine's database, with flychat's timeouts."""
    url: URL = engine.url
    _, params = engine.dialect.create_connect_args(url)
    for key in _ADAPTER_ONLY:
        params.pop(key, None)
    return {**params, "timeout": PG_CONNECT_SECONDS, "command_timeout": PG_COMMAND_SECONDS}


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


class PostgresAppender:
    """Stores room batches, each as one ``APPEND`` statement, on up to ``connections``
    asyncpg connections of its own (opened on first use, kept until ``close``).

    A batch whose provisional id is already stored answers None and changes nothing.
    A connection that breaks is dropped with every idle one (they likely broke with
    it) and the batch is tried once more on a new connection.
    """

    def __init__(
        self, engine: AsyncEngine, store: str, retention: int, connections: int = WRITER_CONNECTIONS
    ) -> None:
        self._params = connect_params(engine)
        self._store = store
        self._retention = retention
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[Any] = []

    async def store(self, batch: dict[str, list[Draft]]) -> list[tuple[str, Message]] | None:
        """Store each room's drafts as its next messages, or None when a provisional id exists."""
        async with self._slots:
            for retry in (False, True):
                conn = self._idle.pop() if self._idle else await self._connect()
                try:
                    stored = await self._store_rooms(conn, batch)
                except asyncpg.UniqueViolationError:
                    self._idle.append(conn)
                    return None
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

    async def close(self) -> None:
        """Close the idle connections (call once nothing is being stored)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=2)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                conn.terminate()

    async def _connect(self) -> Any:
        try:
            return await asyncpg.connect(**self._params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise unavailable(self._store, exc) from exc

    async def _store_rooms(
        self, conn: Any, batch: dict[str, list[Draft]]
    ) -> list[tuple[str, Message]]:
        stored: list[tuple[str, Message]] = []
        for room, drafts in batch.items():
            kept = [_kept(d) for d in drafts]
            count = len(kept)
            last_id = await conn.fetchval(
                APPEND,
                room,
                count,
                self._retention,
                [d.provisional_id for d in kept],
                [d.sender for d in kept],
                [d.text for d in kept],
                [_millis(d) for d in kept],
                [d.user for d in kept],
            )
            if count > self._retention:
                await conn.execute(TRIM, room, last_id - self._retention)
            first = last_id - count + 1
            stored.extend((room, Message.from_draft(first + i, d)) for i, d in enumerate(kept))
        return stored

    @staticmethod
    def _drop(conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.terminate()

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            self._drop(conn)
