"""In-memory adapters: the ``memory://`` store and a recording publisher for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flychat.domain.errors import StorageUnavailable
from flychat.domain.model import Draft, Member, Message, Page, RoomId, Sender


@dataclass
class _Room:
    """A room's kept messages: consecutive ids, oldest first."""

    messages: list[Message] = field(default_factory=list)
    last_id: int = 0
    by_provisional: dict[str, Message] = field(default_factory=dict)

    def index_of(self, message_id: int) -> int:
        """Where ``message_id`` is (or would be) in ``messages``, clamped to the list."""
        if not self.messages:
            return 0
        return min(len(self.messages), max(0, message_id - self.messages[0].id))


class InMemoryMessageLog:
    """A MessageLog held in process memory; lost on restart."""

    def __init__(self, retention: int = 1000) -> None:
        self.retention = retention
        self.available = True
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: RoomId) -> _Room:
        if not self.available:
            raise StorageUnavailable("the in-memory store is switched off")
        state = self._rooms.get(room.value)
        if state is None:
            state = self._rooms[room.value] = _Room()
        return state

    async def append(self, room: RoomId, draft: Draft) -> Message:
        """Store the draft as the room's next message (idempotent on provisional id)."""
        state = self._room(room)
        existing = state.by_provisional.get(draft.provisional_id)
        if existing is not None:
            return existing
        message = Message.from_draft(state.last_id + 1, draft)
        state.last_id = message.id
        state.messages.append(message)
        state.by_provisional[message.provisional_id] = message
        excess = len(state.messages) - self.retention
        if excess > 0:
            for old in state.messages[:excess]:
                del state.by_provisional[old.provisional_id]
            del state.messages[:excess]
        return message

    async def latest(self, room: RoomId, limit: int) -> Page:
        """The newest ``limit`` messages."""
        state = self._room(room)
        return Page(tuple(state.messages[-limit:]) if limit > 0 else (), state.last_id)

    async def after(self, room: RoomId, after_id: int, limit: int) -> Page:
        """Messages with id > after_id, oldest first."""
        state = self._room(room)
        start = state.index_of(after_id + 1)
        found = state.messages[start : start + max(0, limit)]
        return Page(tuple(found), state.last_id)

    async def before(self, room: RoomId, before_id: int, limit: int) -> Page:
        """The newest ``limit`` messages with id < before_id, oldest first."""
        state = self._room(room)
        end = state.index_of(before_id)
        found = state.messages[max(0, end - limit) : end] if limit > 0 else ()
        return Page(tuple(found), state.last_id)

    async def check(self) -> None:
        """Raise StorageUnavailable when switched off."""
        if not self.available:
            raise StorageUnavailable("the in-memory store is switched off")


class InMemoryPresenceStore:
    """A PresenceStore held in process memory: each call is atomic (no await inside)."""

    def __init__(self) -> None:
        self.available = True
        self._rooms: dict[str, dict[str, Member]] = {}

    def _check(self) -> None:
        if not self.available:
            raise StorageUnavailable("the in-memory store is switched off")

    async def heartbeat(self, room: RoomId, sender: Sender, now: datetime) -> bool:
        """Record the member at ``now``; True when it is new."""
        self._check()
        members = self._rooms.setdefault(room.value, {})
        old = members.get(sender.key)
        seen = now if old is None else max(now, old.last_seen)
        members[sender.key] = Member(room, sender.key, sender.name, sender.user, seen)
        return old is None

    async def leave(self, room: RoomId, key: str) -> bool:
        """Remove the member; True when it was there."""
        self._check()
        members = self._rooms.get(room.value, {})
        removed = members.pop(key, None) is not None
        if not members:
            self._rooms.pop(room.value, None)
        return removed

    async def expire(self, room: RoomId | None, older_than: datetime, limit: int) -> list[Member]:
        """Remove and return up to ``limit`` members last seen before ``older_than``."""
        self._check()
        names = [room.value] if room is not None else list(self._rooms)
        removed: list[Member] = []
        for name in names:
            members = self._rooms.get(name, {})
            for key, member in list(members.items()):
                if len(removed) >= limit:
                    return removed
                if member.last_seen < older_than:
                    removed.append(members.pop(key))
            if not members:
                self._rooms.pop(name, None)
        return removed

    async def members(self, room: RoomId, seen_since: datetime) -> list[Member]:
        """Members last seen at or after ``seen_since``."""
        self._check()
        found = self._rooms.get(room.value, {}).values()
        return [m for m in found if m.last_seen >= seen_since]


@dataclass
class RecordingPublisher:
    """A Publisher that keeps what it was asked to send, in order."""

    events: list[tuple[str, str, object]] = field(default_factory=list)

    def publish_provisional(self, room: RoomId, draft: Draft) -> None:
        """Record a provisional event."""
        self.events.append(("provisional", room.value, draft))

    def publish_message(self, room: RoomId, message: Message) -> None:
        """Record a durable event."""
        self.events.append(("message", room.value, message))

    def publish_retraction(self, room: RoomId, provisional_id: str) -> None:
        """Record a retraction."""
        self.events.append(("retraction", room.value, provisional_id))

    def publish_ephemeral(self, room: RoomId, sse: str) -> None:
        """Record an ephemeral event."""
        self.events.append(("ephemeral", room.value, sse))
