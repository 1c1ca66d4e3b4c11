"""The wire forms of messages: JSON objects and Server-Sent Events text."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from flychat.domain.model import Draft, Member, Message, Sender, format_date


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def message_fields(message: Message) -> dict[str, Any]:
    """The message as a JSON object, keys in the order of the spec."""
    fields: dict[str, Any] = {
        "id": message.id,
        "provisionalId": message.provisional_id,
        "from": message.sender,
    }
    if message.user is not None:
        fields["user"] = message.user
    fields["text"] = message.text
    fields["date"] = format_date(message.date)
    return fields


def provisional_fields(draft: Draft) -> dict[str, Any]:
    """The provisional event's JSON object: like a message, without ``id``."""
    fields: dict[str, Any] = {"provisionalId": draft.provisional_id, "from": draft.sender}
    if draft.user is not None:
        fields["user"] = draft.user
    fields["text"] = draft.text
    fields["date"] = format_date(draft.date)
    return fields


def sse_event(event: str, data: object, event_id: int | None = None) -> str:
    """One SSE event; ``data`` is JSON-encoded onto a single line."""
    id_line = "" if event_id is None else f"id: {event_id}\n"
    return f"event: {event}\n{id_line}data: {_dumps(data)}\n\n"


def sse_message(message: Message) -> str:
    """The durable ``message`` event, with its id."""
    return sse_event("message", message_fields(message), message.id)


def sse_provisional(draft: Draft) -> str:
    """The provisional ``message`` event, without an id line."""
    return sse_event("message", provisional_fields(draft))


def sse_retraction(provisional_id: str) -> str:
    """The event withdrawing a provisional message that was never stored."""
    return sse_event("message", {"provisionalId": provisional_id, "retracted": True})


def sender_fields(name: str, user: str | None) -> dict[str, Any]:
    """``from``, then ``user`` when the sender is signed in."""
    return {"from": name} if user is None else {"from": name, "user": user}


def sse_typing(sender: Sender, typing: bool, seconds: int) -> str:
    """The ephemeral ``typing`` event (no id)."""
    data = {**sender_fields(sender.name, sender.user), "typing": typing, "seconds": seconds}
    return sse_event("typing", data)


def sse_presence(name: str, user: str | None, present: bool) -> str:
    """The ephemeral ``presence`` event (no id): a member appeared or left."""
    return sse_event("presence", {**sender_fields(name, user), "present": present})


_last_seen_text = functools.lru_cache(maxsize=4096)(format_date)
"""Heartbeat answers list the same members' dates over and over."""


def member_fields(member: Member) -> dict[str, Any]:
    """A present member as the presence answers list it."""
    return {
        **sender_fields(member.name, member.user),
        "lastSeen": _last_seen_text(member.last_seen),
    }


def roster_fields(members: list[Member]) -> dict[str, Any]:
    """The presence answer: members (already sorted) and their count."""
    return {"members": [member_fields(m) for m in members], "count": len(members)}


def sse_retry(milliseconds: int) -> str:
    """The ``retry:`` field: how long the client waits before reconnecting a lost stream."""
    return f"retry: {milliseconds}\n\n"


def sse_open() -> str:
    """The first event of every new stream."""
    return sse_event("stream-open", {})


def sse_reset(last_id: int) -> str:
    """Tells the client to drop what it shows; resumes after ``last_id``."""
    return sse_event("stream-reset", {"lastEventId": last_id}, last_id)


def sse_comment(text: str = "keep-alive") -> str:
    """An SSE comment line, used as keep-alive."""
    return f": {text}\n\n"


@dataclass(frozen=True, slots=True)
class Durable:
    """A stored message with its SSE text, encoded once for every stream."""

    message: Message
    sse: str

    @property
    def id(self) -> int:
        """The message id."""
        return self.message.id

    @classmethod
    def of(cls, message: Message) -> Durable:
        """Wrap a message with its encoded event."""
        return cls(message, sse_message(message))


FeedItem = Durable | str
"""What a direct-mode stream receives: a durable message, or a pre-encoded event."""
