"""Batching for the SQL presence store: calls that arrive while one batch runs share the next.

``Coalescer`` hands a list of waiting items to one coroutine (PostgreSQL: one
statement for all of them). ``SqliteBatcher`` runs waiting operations in one
transaction in its own worker thread (SQLite: one hand-off from the event loop).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

from flychat.adapters.sql.engine import UNAVAILABLE_ERRORS, unavailable

MAX_BATCH = 256
T = TypeVar("T")
R = TypeVar("R")


def _consume(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()


async def _wait(done: asyncio.Future[R]) -> R:
    """Await a batched result; a cancelled caller leaves the batch alone."""
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        done.add_done_callback(_consume)
        raise


@dataclass(eq=False, slots=True)
class _Waiting(Generic[T, R]):
    item: T
    done: asyncio.Future[R]


class Coalescer(Generic[T, R]):
    """Items submitted while ``flush`` runs go together into the next ``flush`` call.

    ``flush`` answers one result per item, in order; its exception fails the whole batch.
    """

    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[R]]]) -> None:
        self._flush = flush
        self._pending: list[_Waiting[T, R]] = []
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append(_Waiting(item, done))
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_all())
        return await _wait(done)

    async def close(self) -> None:
        """Wait until nothing is queued."""
        while self._drain is not None:
            await asyncio.gather(self._drain, return_exceptions=True)

    async def _drain_all(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    results = await self._flush([w.item for w in batch])
                except Exception as exc:
                    for waiting in batch:
                        if not waiting.done.done():
                            waiting.done.set_exception(exc)
                    continue
                for waiting, result in zip(batch, results, strict=True):
                    if not waiting.done.done():
                        waiting.done.set_result(result)
        finally:
            self._drain = None


class SqliteBatcher:
    """Runs SQLite operations in one worker thread; those queued meanwhile share a transaction."""

    def __init__(self, store: str, engine: Engine, name: str) -> None:
        self._store = store
        self._engine = engine
        self._thread = ThreadPoolExecutor(1, name)
        self._batches: Coalescer[Callable[[Connection], Any], Any] = Coalescer(self._flush)

    async def run(self, run: Callable[[Connection], Any]) -> Any:
        """Queue a blocking operation on a connection and wait for its result."""
        return await self._batches.submit(run)

    async def close(self) -> None:
        """Wait until nothing is queued."""
        await self._batches.close()
        self._thread.shutdown(wait=False)

    async def _flush(self, batch: list[Callable[[Connection], Any]]) -> list[Any]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._thread, functools.partial(self._in_thread, batch)
            )
        except UNAVAILABLE_ERRORS as exc:
            raise unavailable(self._store, exc) from exc

    def _in_thread(self, batch: list[Callable[[Connection], Any]]) -> list[Any]:
        with self._engine.begin() as conn:
            return [run(conn) for run in batch]
