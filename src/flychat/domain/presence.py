"""Typing and presence: ephemeral events, never stored as messages, never given an id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from flychat.domain.errors import InvalidInput, StorageUnavailable
from flychat.domain.model import Member, RoomId, Sender, to_millis
from flychat.domain.ports import Clock, PresenceStore, Publisher
from flychat.domain.wire import sse_presence, sse_typing

log = logging.getLogger(__name__)

TYPING_SECONDS = 6
"""How long receivers show "is typing" unless renewed (the event's ``seconds``)."""
TYPING_COALESCE_SECONDS = 2.0
"""A sender's repeated ``typing: true`` within this window sends no new event."""

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class PresenceRules:
    """The tunable limits of presence."""

    ttl_seconds: float = 60.0
    sweep_seconds: float = 5.0
    sweep_limit: int = 500


def parse_flag(field: str, raw: object, default: bool) -> bool:
    """A boolean field: JSON true/false, or a form's true/false/1/0/yes/no/on/off."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE:
        return True
    if isinstance(raw, str) and raw.strip().lower() in _FALSE:
        return False
    raise InvalidInput(field, "must be true or false")


def roster(members: Sequence[Member]) -> list[Member]:
    """Members in the order answers list them: by ``from``, then by key."""
    return sorted(members, key=lambda m: (m.name, m.key))


class TypingGate:
    """Coalesces ``typing: true`` per sender and room within this process.

    ``typing: false`` always passes and reopens the gate. Memory stays bounded:
    entries older than the window are dropped once there are ``max_entries``.
    """

    def __init__(
        self,
        window: float = TYPING_COALESCE_SECONDS,
        now: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.window = window
        self._now = now
        self._max_entries = max_entries
        self._last: dict[tuple[str, str], float] = {}

    def admit(self, room: RoomId, key: str, typing: bool) -> bool:
        """True when this typing event should go out now."""
        slot = (room.value, key)
        if not typing:
            self._last.pop(slot, None)
            return True
        now = self._now()
        last = self._last.get(slot)
        if last is not None and now - last < self.window:
            return False
        if len(self._last) >= self._max_entries:
            self._prune(now)
        self._last[slot] = now
        return True

    def _prune(self, now: float) -> None:
        self._last = {k: t for k, t in self._last.items() if now - t < self.window}
        while len(self._last) >= self._max_entries:
            self._last.pop(next(iter(self._last)))


class Presence:
    """Heartbeats, leaves, expiry and typing over a PresenceStore, delivered through Publishers.

    Every change is published by the one caller whose store write made it: the
    heartbeat that created the member, the leave or the sweep that removed it.
    """

    def __init__(
        self,
        store: PresenceStore,
        publishers: Sequence[Publisher],
        clock: Clock,
        rules: PresenceRules | None = None,
        typing_gate: TypingGate | None = None,
    ) -> None:
        self.store = store
        self.publishers = tuple(publishers)
        self.clock = clock
        self.rules = rules or PresenceRules()
        self.typing_gate = typing_gate or TypingGate()

    @property
    def _ttl(self) -> timedelta:
        return timedelta(seconds=self.rules.ttl_seconds)

    async def heartbeat(self, room: RoomId, sender: Sender) -> list[Member]:
        """Mark ``sender`` present; announce it when it is new. Answer the room's members."""
        now = to_millis(self.clock())
        if await self.store.heartbeat(room, sender, now):
            self._publish(room, sse_presence(sender.name, sender.user, True))
        return await self.members(room)

    async def leave(self, room: RoomId, sender: Sender) -> list[Member]:
        """Remove ``sender``; announce it gone when this call removed it. Answer the members."""
        if await self.store.leave(room, sender.key):
            self._publish(room, sse_presence(sender.name, sender.user, False))
        return await self.members(room)

    async def members(self, room: RoomId) -> list[Member]:
        """The room's members seen within the TTL, sorted by ``from``."""
        return roster(await self.store.members(room, to_millis(self.clock()) - self._ttl))

    async def sweep(self) -> int:
        """Remove members whose TTL ran out (every room) and announce each removal made here."""
        cutoff = to_millis(self.clock()) - self._ttl
        removed = await self.store.expire(None, cutoff, self.rules.sweep_limit)
        for member in removed:
            self._publish(member.room, sse_presence(member.name, member.user, False))
        return len(removed)

    async def run_sweeps(self, max_rounds: int = 10) -> None:
        """Sweep every ``sweep_seconds`` until cancelled; a full sweep repeats at once,
        at most ``max_rounds`` times. Store failures are logged and retried next period."""
        while True:
            await asyncio.sleep(self.rules.sweep_seconds)
            for _ in range(max_rounds):
                try:
                    if await self.sweep() < self.rules.sweep_limit:
                        break
                except StorageUnavailable as exc:
                    log.warning("presence sweep failed; retrying next period: %s", exc)
                    break
                except Exception:
                    log.exception("presence sweep failed; retrying next period")
                    break

    def typing(self, room: RoomId, sender: Sender, typing: bool) -> bool:
        """Send the typing event unless a repeat within the window; True when it went out."""
        if not self.typing_gate.admit(room, sender.key, typing):
            return False
        self._publish(room, sse_typing(sender, typing, TYPING_SECONDS))
        return True

    def _publish(self, room: RoomId, sse: str) -> None:
        for publisher in self.publishers:
            try:
                publisher.publish_ephemeral(room, sse)
            except Exception:
                log.exception("publisher %r failed an ephemeral event", publisher)
