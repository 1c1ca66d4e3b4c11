"""In-memory adapters: the ``memory://`` store and a recording publisher for tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from flychat.domain.errors import StorageUnavailable
from flychat.domain.model import Draft, Message, Page, RoomId


@dataclass
class _Room:
    messages: list[Message] = field(default_factory=list)
    last_id: int = 0
    by_provisional: dict[str, Message] = field(default_factory=dict)


class InMemoryMessageLog:
    """A MessageLog held in process memory; lost on restart."""

    def __init__(self, retention: int = 1000) -> None:
        self.retention = retention
        self.available = True
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: RoomId) -> _Room:
        if not self.available:
            raise StorageUnavailable("the in-memory store is switched off")
        return self._rooms.setdefault(room.value, _Room())

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
        found = [m for m in state.messages if m.id > after_id][:limit]
        return Page(tuple(found), state.last_id)

    async def before(self, room: RoomId, before_id: int, limit: int) -> Page:
        """The newest ``limit`` messages with id < before_id, oldest first."""
        state = self._room(room)
        found = [m for m in state.messages if m.id < before_id]
        return Page(tuple(found[-limit:]) if limit > 0 else (), state.last_id)

    async def check(self) -> None:
        """Raise StorageUnavailable when switched off."""
        if not self.available:
            raise StorageUnavailable("the in-memory store is switched off")


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
