"""Ports: what the domain needs from storage, delivery and time."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from flychat.domain.access import Caller
from flychat.domain.model import Draft, Member, Message, Page, RoomId, Sender
from flychat.domain.wire import FeedItem


class MessageLog(Protocol):
    """A per-room append-only log with gapless ids, shaped for the weakest store.

    Every method is atomic on its own. Implementations raise
    ``StorageUnavailable`` when the store cannot be reached.
    """

    async def append(self, room: RoomId, draft: Draft) -> Message:
        """Store ``draft`` as the room's next message (id = last id + 1) and return it.

        If the room already holds a message with ``draft.provisional_id``, return that
        message and store nothing. Raise ``AppendConflict`` when a concurrent writer
        took the id (the caller retries). Keeps only the newest ``retention`` messages.
        """
        ...

    async def latest(self, room: RoomId, limit: int) -> Page:
        """The newest ``limit`` messages, oldest first, and the room's last id."""
        ...

    async def after(self, room: RoomId, after_id: int, limit: int) -> Page:
        """Up to ``limit`` messages with id > ``after_id``, oldest first, and the last id."""
        ...

    async def before(self, room: RoomId, before_id: int, limit: int) -> Page:
        """The newest ``limit`` messages with id < ``before_id``, oldest first, and the last id."""
        ...

    async def check(self) -> None:
        """Raise ``StorageUnavailable`` unless the store answers."""
        ...


class Publisher(Protocol):
    """Delivers events to a room's subscribers. Never blocks and never raises."""

    def publish_provisional(self, room: RoomId, draft: Draft) -> None:
        """Send the provisional event (no id) for a message about to be stored."""
        ...

    def publish_message(self, room: RoomId, message: Message) -> None:
        """Send the durable event of a stored message."""
        ...

    def publish_retraction(self, room: RoomId, provisional_id: str) -> None:
        """Tell subscribers that a provisional message will never be stored."""
        ...

    def publish_ephemeral(self, room: RoomId, sse: str) -> None:
        """Send an encoded ephemeral event (typing, presence) like a provisional one: no id."""
        ...


class PresenceStore(Protocol):
    """Who is in which room, shaped for the weakest store: every method is one atomic step.

    Raises ``StorageUnavailable`` when the store cannot be reached.
    """

    async def heartbeat(self, room: RoomId, sender: Sender, now: datetime) -> bool:
        """Record that ``sender`` is present at ``now``; True when this call created the member.

        One write, no read before it. ``last_seen`` never moves backwards.
        """
        ...

    async def leave(self, room: RoomId, key: str) -> bool:
        """Remove the member; True only for the caller whose removal took effect."""
        ...

    async def expire(self, room: RoomId | None, older_than: datetime, limit: int) -> list[Member]:
        """Remove up to ``limit`` members last seen before ``older_than`` (in one room or all).

        Each removal is conditional on ``last_seen`` still being old, so a member that
        heartbeats meanwhile stays, and of racing callers only one gets each member back.
        """
        ...

    async def members(self, room: RoomId, seen_since: datetime) -> list[Member]:
        """The room's members last seen at or after ``seen_since``, in any order."""
        ...


class Inbox(Protocol):
    """One direct-mode stream's queue of events, filled by the live feed."""

    closed: bool
    overflowed: bool

    async def receive(self, wait_seconds: float) -> list[FeedItem]:
        """Everything queued so far; waits up to ``wait_seconds`` when empty."""
        ...


class LiveFeed(Protocol):
    """The streams this process holds itself (direct mode), room by room."""

    queue_size: int

    def subscribe(self, room: RoomId) -> Inbox:
        """A new inbox for the room's events; call ``unsubscribe`` when done."""
        ...

    def unsubscribe(self, room: RoomId, inbox: Inbox) -> None:
        """Forget an inbox."""
        ...

    def close_all(self) -> None:
        """End every stream (shutdown); later subscriptions end at once."""
        ...


class TokenVerifier(Protocol):
    """Checks an access token and says who presents it."""

    def verify(self, token: str) -> Caller:
        """The token's Caller; raise ``NotAuthenticated`` when it is invalid or expired."""
        ...


class Clock(Protocol):
    """The current time, aware and in UTC."""

    def __call__(self) -> datetime: ...


class IdFactory(Protocol):
    """A new provisional id in UUID form."""

    def __call__(self) -> str: ...
