"""A strict SSE parser for tests: events as the browser would dispatch them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    """One dispatched SSE event (or a comment when ``comment`` is set)."""

    event: str = "message"
    id: str | None = None
    data_lines: list[str] = field(default_factory=list)
    comment: str | None = None

    @property
    def data(self) -> str:
        return "\n".join(self.data_lines)

    def json(self) -> Any:
        return json.loads(self.data)


def parse_block(block: str) -> Event | None:
    """Parse one blank-line-separated block; None when it dispatches nothing.

    As in a browser, a block without ``data`` (such as ``retry: N``) dispatches no event.
    """
    event = Event()
    for line in block.split("\n"):
        if line.startswith(":"):
            event.comment = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event.event = value
        elif name == "id":
            event.id = value
        elif name == "data":
            event.data_lines.append(value)
    if not event.data_lines:
        return event if event.comment is not None else None
    return event


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[Event]:
    """Turn a byte stream into events and comments, in wire order."""
    buffer = ""
    async for chunk in chunks:
        buffer += chunk.decode("utf-8").replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            parsed = parse_block(block)
            if parsed is not None:
                yield parsed


def parse_all(text: str) -> list[Event]:
    """Every event and comment in a complete SSE body."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if block.strip():
            parsed = parse_block(block)
            if parsed is not None:
                found.append(parsed)
    return found
