"""Reading SSE streams from a running app in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.support.sse import Event, events


class StreamReader:
    """An open SSE response whose events can be awaited one by one."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._events = events(response.aiter_bytes())

    async def next(self, timeout: float = 5.0, *, comments: bool = False) -> Event:
        """The next event (comments skipped unless asked for)."""
        while True:
            event = await asyncio.wait_for(anext(self._events), timeout)
            if comments or event.comment is None:
                return event

    async def take(self, count: int, timeout: float = 5.0) -> list[Event]:
        """The next ``count`` events."""
        return [await self.next(timeout) for _ in range(count)]

    async def durable(self, count: int, timeout: float = 5.0) -> list[Event]:
        """The next ``count`` events that carry an id, skipping provisional ones."""
        found: list[Event] = []
        while len(found) < count:
            event = await self.next(timeout)
            if event.id is not None and event.event == "message":
                found.append(event)
        return found


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    room: str,
    *,
    last_event_id: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[StreamReader]:
    """Open ``GET /rooms/{room}/messages/`` as an SSE stream (``headers`` added)."""
    headers = {"Accept": "text/event-stream", **(headers or {})}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with client.stream(
        "GET", f"/rooms/{room}/messages/", headers=headers, params=query or {}
    ) as response:
        yield StreamReader(response)
