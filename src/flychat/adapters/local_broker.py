"""Direct-mode delivery: fan events out to the streams this process holds."""

from __future__ import annotations

import asyncio

from flychat.domain.model import Draft, Message, RoomId
from flychat.domain.ports import Inbox
from flychat.domain.wire import Durable, FeedItem, Provisional, sse_retraction


class Subscription:
    """One stream's inbox: durable messages and pre-encoded provisional events.

    Bounded: when the reader falls ``limit`` items behind, the inbox empties and
    ``overflowed`` is set, so the reader repairs from storage instead. A waiting
    reader costs one future, nothing per item. Its timer is kept across waits while
    it is due no later than the next wait's end (a reader woken by items re-arms
    nothing), so a wait can end early, never late.
    """

    __slots__ = ("_due", "_items", "_limit", "_timer", "_waiter", "closed", "overflowed")

    def __init__(self, limit: int) -> None:
        self._items: list[FeedItem] = []
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._limit = limit
        self.overflowed = False
        self.closed = False

    def wake(self) -> None:
        """Wake the reader if it waits (after items offered with ``wake=False``)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def offer(self, item: FeedItem, wake: bool = True) -> None:
        """Queue an item without ever blocking the publisher; ``wake=False``: the caller
        calls ``wake`` later."""
        if self.closed:
            return
        if len(self._items) >= self._limit:
            self._items.clear()
            self.overflowed = True
        else:
            self._items.append(item)
        if wake:
            self.wake()

    def close(self) -> None:
        """End the stream: the reader sees ``closed`` at its next wake-up."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.wake()

    def _expire(self) -> None:
        self._timer = None
        self.wake()

    async def receive(self, wait_seconds: float) -> list[FeedItem]:
        """Everything queued so far; waits up to ``wait_seconds`` when empty (may end early)."""
        if not self._items and not self.closed and not self.overflowed:
            loop = asyncio.get_running_loop()
            due = loop.time() + wait_seconds
            if self._timer is None or self._due > due:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_at(due, self._expire)
                self._due = due
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items = self._items
        if not items:
            return []
        self._items = []
        return items


class LocalBroker:
    """A Publisher that delivers to this process's subscriptions, room by room.

    A provisional event wakes its readers two loop iterations later: when the store
    answers at once (the memory store, SQLite's inline append resolves the append in
    the next iteration and the posting task publishes the durable event in the one
    after), the durable event then reaches each stream with it, in one write instead
    of two. A slower store's append (a network round trip) does not hold it back.
    """

    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._rooms: dict[str, set[Subscription]] = {}
        self._closing = False

    def subscribe(self, room: RoomId) -> Subscription:
        """A new subscription to the room's events; call ``unsubscribe`` when done."""
        subscription = Subscription(self.queue_size)
        if self._closing:
            subscription.close()
        self._rooms.setdefault(room.value, set()).add(subscription)
        return subscription

    def unsubscribe(self, room: RoomId, inbox: Inbox) -> None:
        """Forget a subscription."""
        members = self._rooms.get(room.value)
        if isinstance(inbox, Subscription):
            inbox.close()
        if members is not None and isinstance(inbox, Subscription):
            members.discard(inbox)
            if not members:
                del self._rooms[room.value]

    def subscriber_count(self, room: RoomId | None = None) -> int:
        """How many streams this process holds, in one room or in all."""
        if room is not None:
            return len(self._rooms.get(room.value, ()))
        return sum(len(members) for members in self._rooms.values())

    def _offer(self, room: RoomId, item: FeedItem, wake: bool = True) -> tuple[Subscription, ...]:
        members = tuple(self._rooms.get(room.value, ()))
        for subscription in members:
            subscription.offer(item, wake)
        return members

    def publish_provisional(self, room: RoomId, draft: Draft) -> None:
        """Deliver the provisional event to the room's streams (woken two iterations later)."""
        if room.value in self._rooms:
            members = self._offer(room, Provisional.of(draft), wake=False)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                _wake_all(members)
                return
            loop.call_soon(loop.call_soon, _wake_all, members)

    def publish_message(self, room: RoomId, message: Message) -> None:
        """Deliver the durable event to the room's streams."""
        if room.value in self._rooms:
            self._offer(room, Durable.of(message))

    def publish_retraction(self, room: RoomId, provisional_id: str) -> None:
        """Deliver a retraction to the room's streams."""
        if room.value in self._rooms:
            self._offer(room, sse_retraction(provisional_id))

    def publish_ephemeral(self, room: RoomId, sse: str) -> None:
        """Deliver an encoded ephemeral event (typing, presence) to the room's streams."""
        if room.value in self._rooms:
            self._offer(room, sse)

    def close_all(self) -> None:
        """End every stream (shutdown); later subscriptions end at once."""
        self._closing = True
        for members in self._rooms.values():
            for subscription in members:
                subscription.close()


def _wake_all(members: tuple[Subscription, ...]) -> None:
    for subscription in members:
        subscription.wake()
