"""Identity and access: who a caller is, which rooms they may read and post in."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from flychat.domain.errors import FlychatError, InvalidInput
from flychat.domain.model import RoomId, validate_sender

Action = Literal["read", "post"]
EXPIRY_SLOT_SECONDS = 30
"""GRIP streams are grouped by when their token expires, in slots of this many seconds."""


class NotAuthenticated(FlychatError):
    """No token, or one that is malformed, badly signed, expired or breaks a claim rule.

    ``token_given`` tells whether the request carried a token at all.
    """

    def __init__(self, reason: str, *, token_given: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_given = token_given


class NotAllowed(FlychatError):
    """A valid token that does not grant the action on the room."""

    def __init__(self, action: Action, room: RoomId) -> None:
        super().__init__(f"this token does not grant '{action}' in room '{room}'")
        self.action = action
        self.room = room


def _entries(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(entry for entry in value if isinstance(entry, str) and entry)


def pattern_matches(pattern: str, room: RoomId) -> bool:
    """True when a grant entry covers the room: exact id, a prefix ending in ``*``, or ``*``."""
    if pattern.endswith("*"):
        return room.value.startswith(pattern[:-1])
    return pattern == room.value


@dataclass(frozen=True, slots=True)
class Grants:
    """The rooms a token may read and post in; ``post`` does not imply ``read``."""

    read: tuple[str, ...] = ()
    post: tuple[str, ...] = ()

    @classmethod
    def from_claim(cls, rooms: object) -> Grants:
        """The grants of a ``rooms`` claim; anything missing or malformed grants nothing."""
        if not isinstance(rooms, Mapping):
            return cls()
        return cls(_entries(rooms.get("read")), _entries(rooms.get("post")))

    def allows(self, action: Action, room: RoomId) -> bool:
        """True when ``action`` is granted in ``room``."""
        patterns: Iterable[str] = self.read if action == "read" else self.post
        return any(pattern_matches(p, room) for p in patterns)


@dataclass(frozen=True, slots=True)
class Caller:
    """A signed-in user: ``sub`` is the id, ``name`` what others see, ``expires`` epoch seconds."""

    sub: str
    name: str
    grants: Grants
    expires: float

    def may(self, action: Action, room: RoomId) -> bool:
        """True when the caller may ``action`` in ``room``."""
        return self.grants.allows(action, room)

    def require(self, action: Action, room: RoomId) -> None:
        """Raise NotAllowed unless the caller may ``action`` in ``room``."""
        if not self.may(action, room):
            raise NotAllowed(action, room)

    def expired(self, now: float) -> bool:
        """True once ``now`` (epoch seconds) has reached the token's ``exp``."""
        return now >= self.expires


def _claim_name(claims: Mapping[str, object], claim: str, value: object) -> str:
    try:
        return validate_sender(value)
    except InvalidInput as exc:
        raise NotAuthenticated(f"claim '{claim}' {exc.reason}", token_given=True) from None


def caller_from_claims(claims: Mapping[str, object]) -> Caller:
    """The Caller described by verified token claims; raise NotAuthenticated on a bad claim.

    ``sub`` and ``name`` follow the rules of a message's ``from`` (trimmed, 1-64
    characters, no control characters); ``name`` defaults to ``sub``.
    """
    sub = _claim_name(claims, "sub", claims.get("sub"))
    raw_name = claims.get("name")
    name = sub if raw_name is None else _claim_name(claims, "name", raw_name)
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise NotAuthenticated("claim 'exp' is required and must be a number", token_given=True)
    return Caller(sub, name, Grants.from_claim(claims.get("rooms")), float(exp))


def expiry_slot(expires: float, slot_seconds: int = EXPIRY_SLOT_SECONDS) -> int:
    """The slot of a token expiring at ``expires``: the first boundary at or after it.

    Slot ``k`` ends at ``k * slot_seconds`` (epoch seconds); every token in it has expired then.
    """
    return math.ceil(expires / slot_seconds)


def slots_ended(now: float, slot_seconds: int = EXPIRY_SLOT_SECONDS) -> tuple[int, int]:
    """The slot that ended last at ``now`` and the one before (closing twice is harmless)."""
    last = math.floor(now / slot_seconds)
    return last, last - 1
