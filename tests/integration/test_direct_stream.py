"""The direct-mode stream generator: ordering, repair from storage, slow readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from flychat.adapters.local_broker import LocalBroker
from flychat.adapters.memory import InMemoryMessageLog
from flychat.domain.messages import Chat, ChatRules
from flychat.domain.model import Draft, RoomId
from flychat.entrypoints.sse import direct_stream
from tests.support.sse import Event, parse_all

ROOM = RoomId("lobby")
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def setup(
    queue_size: int = 1000, max_replay: int = 1000
) -> tuple[Chat, InMemoryMessageLog, LocalBroker]:
    log = InMemoryMessageLog(retention=5000)
    broker = LocalBroker(queue_size=queue_size)
    ids = iter(range(1, 10**6))
    chat = Chat(
        log, [broker], lambda: NOW, lambda: f"pid-{next(ids):08d}", ChatRules(max_replay=max_replay)
    )
    return chat, log, broker


def draft(n: int) -> Draft:
    return Draft(f"silent-{n:06d}", "bob", f"s{n}", NOW)


async def read_events(stream: AsyncIterator[bytes], want: int, timeout: float = 5) -> list[Event]:
    found: list[Event] = []

    async def collect() -> None:
        while len([e for e in found if e.comment is None]) < want:
            found.extend(parse_all((await anext(stream)).decode()))

    await asyncio.wait_for(collect(), timeout)
    return [e for e in found if e.comment is None]


def durable_ids(events: list[Event]) -> list[int]:
    return [int(e.id) for e in events if e.event == "message" and e.id is not None]


async def test_a_lost_publish_is_repaired_from_storage() -> None:
    chat, log, broker = setup()
    stream = direct_stream(
        chat, broker, ROOM, None, keepalive_seconds=5, gap_wait_seconds=0.1, retry_ms=1000
    )
    assert (await read_events(stream, 1))[0].event == "stream-open"
    await log.append(ROOM, draft(1))
    await chat.post(ROOM, "alice", "published")
    events = await read_events(stream, 3)
    assert durable_ids(events) == [1, 2]
    await stream.aclose()
    assert broker.subscriber_count() == 0


async def test_a_slow_reader_is_repaired_in_order() -> None:
    chat, _, broker = setup(queue_size=10)
    stream = direct_stream(
        chat, broker, ROOM, None, keepalive_seconds=5, gap_wait_seconds=0.1, retry_ms=1000
    )
    await read_events(stream, 1)
    for i in range(50):
        await chat.post(ROOM, "alice", f"m{i}")
    events = await read_events(stream, 50, timeout=5)
    assert durable_ids(events)[:50] == list(range(1, 51))
    await stream.aclose()


async def test_a_reader_too_far_behind_is_disconnected_without_reset() -> None:
    chat, _, broker = setup(queue_size=10, max_replay=20)
    stream = direct_stream(
        chat, broker, ROOM, None, keepalive_seconds=5, gap_wait_seconds=0.1, retry_ms=1000
    )
    await read_events(stream, 1)
    for i in range(40):
        await chat.post(ROOM, "alice", f"m{i}")
    rest = [chunk async for chunk in stream]
    events = parse_all(b"".join(rest).decode())
    assert all(e.event != "stream-reset" for e in events)
    assert broker.subscriber_count() == 0


async def test_close_all_ends_the_stream() -> None:
    chat, _, broker = setup()
    stream = direct_stream(
        chat, broker, ROOM, None, keepalive_seconds=5, gap_wait_seconds=0.1, retry_ms=1000
    )
    await read_events(stream, 1)
    broker.close_all()
    assert [chunk async for chunk in stream] == []
