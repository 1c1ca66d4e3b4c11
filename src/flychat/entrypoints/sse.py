"""The direct-mode SSE stream: history, then live events in perfect order."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from flychat.domain.messages import Chat
from flychat.domain.model import RoomId, parse_position
from flychat.domain.ordering import Sequencer
from flychat.domain.ports import Inbox, LiveFeed
from flychat.domain.wire import (
    Durable,
    FeedItem,
    Provisional,
    sse_comment,
    sse_message,
    sse_open,
    sse_reset,
    sse_retry,
)

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def resume_position(last_event_id: str | None, query_value: str | None) -> int | None:
    """The stream's resume position: ``Last-Event-ID``, else ``lastEventId``; invalid = absent."""
    position = parse_position(last_event_id)
    return position if position is not None else parse_position(query_value)


def wants_event_stream(accept: str | None) -> bool:
    """True when an Accept header asks for Server-Sent Events."""
    return accept is not None and "text/event-stream" in accept.lower()


class _FellBehind(Exception):
    """The subscriber is too far behind to repair: end the stream so it resumes."""


async def _repair(chat: Chat, room: RoomId, order: Sequencer[Durable]) -> list[Durable]:
    page = await chat.log.after(room, order.last_sent, chat.rules.max_replay + 1)
    if len(page.messages) > chat.rules.max_replay:
        raise _FellBehind
    if page.messages and page.messages[0].id != order.last_sent + 1:
        raise _FellBehind
    return order.accept(Durable.of(m) for m in page.messages)


async def _opening(
    chat: Chat, room: RoomId, position: int | None, retry_ms: int
) -> tuple[bytes, int]:
    """The stream's first chunk and the last id it covers (nothing of it stays referenced)."""
    replay = await chat.replay(room, position)
    head = [sse_retry(retry_ms), sse_open()]
    if replay.reset:
        chat.metrics.stream_reset()
        head.append(sse_reset(replay.last_id))
    head.extend(sse_message(m) for m in replay.messages)
    return "".join(head).encode(), replay.last_id


async def direct_stream(
    chat: Chat,
    feed: LiveFeed,
    room: RoomId,
    position: int | None,
    keepalive_seconds: float,
    gap_wait_seconds: float,
    expires_at: float | None = None,
    *,
    retry_ms: int,
) -> AsyncIterator[bytes]:
    """Yield the SSE stream of ``room`` for a client resuming at ``position``.

    The first chunk starts with ``retry: retry_ms``, then ``stream-open`` and the replay.
    With ``expires_at`` (epoch seconds: the token's ``exp``) the stream ends cleanly then.
    """
    deadline = None if expires_at is None else time.monotonic() + expires_at - time.time()
    subscription = feed.subscribe(room)
    chat.metrics.stream_opened()
    try:
        head, last_id = await _opening(chat, room, position, retry_ms)
        yield head
        del head
        live = _Live(chat, room, subscription, Sequencer(last_id, max_buffer=feed.queue_size))
        last_write = time.monotonic()
        while True:
            now = time.monotonic()
            wait = keepalive_seconds - (now - last_write)
            if live.gap_since is not None:
                wait = min(wait, gap_wait_seconds - (now - live.gap_since))
            if deadline is not None:
                if now >= deadline:
                    return
                wait = min(wait, deadline - now)
            items = await subscription.receive(max(wait, 0.0))
            if subscription.closed:
                return
            out = await live.take(items, gap_wait_seconds)
            if live.behind:
                if out:
                    yield "".join(out).encode()
                return
            if not out and time.monotonic() - last_write >= keepalive_seconds:
                out.append(sse_comment())
            if out:
                yield "".join(out).encode()
                last_write = time.monotonic()
    finally:
        feed.unsubscribe(room, subscription)
        chat.metrics.stream_closed()


def _stored_ids(items: list[FeedItem]) -> frozenset[str]:
    """Provisional ids whose provisional events need not be written.

    A stream catching up (several durable events queued at once) skips the
    provisional events of messages whose durable event is queued with them; the
    client dedupes by ``provisionalId`` anyway. A stream that keeps up still sees
    every provisional event before its durable one.
    """
    if len(items) < 3:
        return frozenset()
    stored = [i.message.provisional_id for i in items if isinstance(i, Durable)]
    return frozenset(stored) if len(stored) > 1 else frozenset()


class _Live:
    """The live part of one stream: events in id order, gaps repaired from storage."""

    __slots__ = ("behind", "chat", "gap_since", "order", "room", "subscription")

    def __init__(
        self, chat: Chat, room: RoomId, subscription: Inbox, order: Sequencer[Durable]
    ) -> None:
        self.chat = chat
        self.room = room
        self.subscription = subscription
        self.order = order
        self.gap_since: float | None = None
        self.behind = False

    async def take(self, items: list[FeedItem], gap_wait_seconds: float) -> list[str]:
        """The encoded events to write for ``items``; sets ``behind`` when the stream must end."""
        out: list[str] = []
        order = self.order
        try:
            if self.subscription.overflowed:
                self.subscription.overflowed = False
                out.extend(d.sse for d in await _repair(self.chat, self.room, order))
            stored = _stored_ids(items)
            for item in items:
                if isinstance(item, Durable):
                    out.extend(d.sse for d in order.accept((item,)))
                elif isinstance(item, Provisional):
                    if item.provisional_id not in stored:
                        out.append(item.sse)
                else:
                    out.append(item)
            if order.has_gap:
                if self.gap_since is None:
                    self.gap_since = time.monotonic()
                if order.overflowing or time.monotonic() - self.gap_since >= gap_wait_seconds:
                    out.extend(d.sse for d in await _repair(self.chat, self.room, order))
                    self.gap_since = time.monotonic()
            if not order.has_gap:
                self.gap_since = None
        except _FellBehind:
            self.behind = True
        return out
