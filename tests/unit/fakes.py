"""Fakes for domain tests: a fixed clock, counted ids, a failing store."""

from __future__ import annotations

from datetime import UTC, datetime

from flychat.adapters.memory import InMemoryMessageLog, RecordingPublisher
from flychat.domain.messages import Chat, ChatRules

NOW = datetime(2026, 11, 27, 21, 0, 0, 123456, tzinfo=UTC)


class CountingIds:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"generated-{self.count:04d}"


def make_chat(
    retention: int = 1000, rules: ChatRules | None = None
) -> tuple[Chat, InMemoryMessageLog, RecordingPublisher]:
    log = InMemoryMessageLog(retention=retention)
    publisher = RecordingPublisher()
    chat = Chat(log, [publisher], lambda: NOW, CountingIds(), rules)
    return chat, log, publisher
