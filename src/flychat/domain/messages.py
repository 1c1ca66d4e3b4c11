"""The chat services: posting (provisional, append, durable), history and resume."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flychat.domain.errors import AppendConflict, InvalidInput, StorageUnavailable
from flychat.domain.metrics import NO_METRICS, ChatMetrics
from flychat.domain.model import (
    DEFAULT_MAX_TEXT_LENGTH,
    Draft,
    Message,
    Page,
    RoomId,
    to_millis,
    validate_provisional_id,
    validate_sender,
    validate_text,
)
from flychat.domain.ports import Clock, IdFactory, MessageLog, Publisher

log = logging.getLogger(__name__)

MAX_PAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ChatRules:
    """The tunable limits of the chat."""

    max_text_length: int = DEFAULT_MAX_TEXT_LENGTH
    history_size: int = 50
    max_replay: int = 1000
    append_attempts: int = 20


@dataclass(frozen=True, slots=True)
class Replay:
    """What a (re)connecting stream sends before live events."""

    reset: bool
    messages: tuple[Message, ...]
    last_id: int


def decide_replay(position: int | None, page: Page, max_replay: int) -> bool:
    """True when ``page`` (read with ``after(position)``) honours the resume position.

    False means the stream must send ``stream-reset``: the position lies beyond the
    room's last id, older than retention, or more than ``max_replay`` behind.
    """
    if position is None:
        return True
    if position > page.last_id or len(page.messages) > max_replay:
        return False
    if position == page.last_id:
        return True
    return bool(page.messages) and page.messages[0].id == position + 1


class Chat:
    """Posting and reading messages over a MessageLog, delivering through Publishers."""

    def __init__(
        self,
        log: MessageLog,
        publishers: Sequence[Publisher],
        clock: Clock,
        new_id: IdFactory,
        rules: ChatRules | None = None,
        metrics: ChatMetrics = NO_METRICS,
    ) -> None:
        self.log = log
        self.publishers = tuple(publishers)
        self.clock = clock
        self.new_id = new_id
        self.rules = rules or ChatRules()
        self.metrics = metrics

    def draft(
        self,
        sender: object,
        text: object,
        provisional_id: object = None,
        user: str | None = None,
    ) -> Draft:
        """Validate client input into a Draft with its provisional id and date fixed.

        ``user`` is the token ``sub`` of a signed-in sender (None in open mode).
        """
        name = validate_sender(sender)
        body = validate_text(text, self.rules.max_text_length)
        if provisional_id is None or provisional_id == "":
            pid = self.new_id()
        else:
            pid = validate_provisional_id(provisional_id)
        return Draft(pid, name, body, to_millis(self.clock()), user)

    async def post(
        self,
        room: RoomId,
        sender: object,
        text: object,
        provisional_id: object = None,
        user: str | None = None,
    ) -> Message:
        """Publish provisionally, append, publish durably; return the stored message.

        Idempotent on the provisional id: a repeat returns the stored message and
        publishes no second durable event (its provisional event went out before the
        store was asked). On storage failure a retraction is published and
        ``StorageUnavailable`` raised.
        """
        try:
            draft = self.draft(sender, text, provisional_id, user)
        except InvalidInput:
            self.metrics.post_finished("rejected")
            raise
        self._each_publisher(lambda p: p.publish_provisional(room, draft))
        started = time.perf_counter()
        try:
            message = await self._append(room, draft)
        except StorageUnavailable:
            self.metrics.post_finished("unavailable")
            self._each_publisher(lambda p: p.publish_retraction(room, draft.provisional_id))
            raise
        finally:
            self.metrics.append_took(time.perf_counter() - started)
        if message.came_from(draft):
            self.metrics.post_finished("stored")
            self._each_publisher(lambda p: p.publish_message(room, message))
        else:
            self.metrics.post_finished("duplicate")
        return message

    async def _append(self, room: RoomId, draft: Draft) -> Message:
        for attempt in range(self.rules.append_attempts):
            try:
                return await self.log.append(room, draft)
            except AppendConflict:
                await asyncio.sleep(min(0.001 * 2**attempt, 0.05))
        raise StorageUnavailable("too much contention appending to the room; try again")

    def _each_publisher(self, send: Callable[[Publisher], None]) -> None:
        for publisher in self.publishers:
            try:
                send(publisher)
            except Exception:
                log.exception("publisher %r failed; streams repair from storage", publisher)

    async def history(
        self,
        room: RoomId,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> Page:
        """A page of history: newest, after an id, or before an id (always oldest first)."""
        if after is not None and before is not None:
            raise InvalidInput("after", "cannot be combined with before")
        size = self.rules.history_size if limit is None else limit
        if not 1 <= size <= MAX_PAGE_LIMIT:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE_LIMIT}")
        if after is not None:
            return await self.log.after(room, after, size)
        if before is not None:
            return await self.log.before(room, before, size)
        return await self.log.latest(room, size)

    async def replay(self, room: RoomId, position: int | None) -> Replay:
        """What to send before live events for a stream resuming at ``position``."""
        if position is not None:
            page = await self.log.after(room, position, self.rules.max_replay + 1)
            if decide_replay(position, page, self.rules.max_replay):
                return Replay(False, page.messages, page.last_id)
        latest = await self.log.latest(room, self.rules.history_size)
        return Replay(position is not None, latest.messages, latest.last_id)
