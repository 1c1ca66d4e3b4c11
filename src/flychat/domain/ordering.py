"""Turning durable events that may arrive late, twice or out of order into a perfect stream."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar


class Identified(Protocol):
    """Anything that carries a message id."""

    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=Identified)


class Sequencer(Generic[T]):
    """Releases messages strictly in id order, each once, starting after ``last_sent``.

    Messages beyond the next expected id wait in a buffer; ``has_gap`` tells the
    caller to repair from storage once waiting stops being reasonable.
    """

    def __init__(self, last_sent: int, max_buffer: int = 1000) -> None:
        self.last_sent = last_sent
        self._buffer: dict[int, T] = {}
        self._max_buffer = max_buffer

    @property
    def has_gap(self) -> bool:
        """True while some received message waits for a missing predecessor."""
        return bool(self._buffer)

    @property
    def overflowing(self) -> bool:
        """True when the buffer holds more than it should: repair now."""
        return len(self._buffer) > self._max_buffer

    def accept(self, messages: Iterable[T]) -> list[T]:
        """Take messages in any order; return those now deliverable, in order."""
        released: list[T] = []
        buffer = self._buffer
        for message in messages:
            if message.id == self.last_sent + 1 and not buffer:
                released.append(message)
                self.last_sent = message.id
            elif message.id > self.last_sent:
                buffer.setdefault(message.id, message)
        while buffer and (nxt := buffer.pop(self.last_sent + 1, None)) is not None:
            released.append(nxt)
            self.last_sent = nxt.id
        return released
