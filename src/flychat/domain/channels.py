"""The names of a room's channels, shared by the publisher and the stream answers."""

from __future__ import annotations

from flychat.domain.model import RoomId


def messages_channel(prefix: str, room: RoomId) -> str:
    """The channel that carries a room's durable events."""
    return f"{prefix}messages-{room}"


def provisional_channel(prefix: str, room: RoomId) -> str:
    """The channel that carries a room's provisional and ephemeral events."""
    return f"{prefix}provisional-{room}"


def expiry_channel(prefix: str, slot: int) -> str:
    """The channel of every held stream whose token expires in ``slot`` (see ``expiry_slot``)."""
    return f"{prefix}expiry-{slot}"
