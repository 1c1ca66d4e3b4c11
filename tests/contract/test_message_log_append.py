"""MessageLog contract, appending: gapless ids, idempotency, rooms, retention."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flychat.domain.model import Draft, Message, RoomId
from tests.contract.conftest import Store

NOW = datetime(2026, 11, 27, 21, 0, 0, 123000, tzinfo=UTC)


def draft(text: str = "hi", provisional_id: str | None = None, sender: str = "alice") -> Draft:
    return Draft(provisional_id or str(uuid.uuid4()), sender, text, NOW)


async def stored(store: Store, room: RoomId) -> list[Message]:
    return list((await store.log.after(room, 0, 500)).messages)


async def test_append_returns_the_draft_as_message_1(store: Store, room: RoomId) -> None:
    d = draft("hello")
    message = await store.log.append(room, d)
    assert message == Message.from_draft(1, d)
    page = await store.log.latest(room, 50)
    assert page.messages == (message,)
    assert page.last_id == 1


async def test_ids_count_up_from_1(store: Store, room: RoomId) -> None:
    ids = [(await store.log.append(room, draft(f"m{n}"))).id for n in range(20)]
    assert ids == list(range(1, 21))
    assert [m.text for m in await stored(store, room)] == [f"m{n}" for n in range(20)]


async def test_concurrent_appends_are_gapless(store: Store, room: RoomId) -> None:
    drafts = [draft(f"m{n}") for n in range(50)]
    results = await asyncio.gather(*(store.log.append(room, d) for d in drafts))
    assert sorted(m.id for m in results) == list(range(1, 51))
    by_id = {m.id: m for m in results}
    assert await stored(store, room) == [by_id[i] for i in range(1, 51)]


async def test_appends_through_several_clients_are_gapless(store: Store, room: RoomId) -> None:
    async with store.another() as second, store.another() as third:
        logs = [store.log, second, third] * 30
        results = await asyncio.gather(*(log.append(room, draft()) for log in logs))
    assert sorted(m.id for m in results) == list(range(1, 91))
    assert [m.id for m in await stored(store, room)] == list(range(1, 91))


async def test_same_provisional_id_returns_the_stored_message(store: Store, room: RoomId) -> None:
    first = await store.log.append(room, draft("original", "pid-00000001"))
    again = await store.log.append(room, draft("retried with other text", "pid-00000001"))
    assert again == first
    assert await stored(store, room) == [first]
    following = await store.log.append(room, draft("next"))
    assert following.id == 2


async def test_concurrent_duplicates_are_stored_once(store: Store, room: RoomId) -> None:
    dup = draft("dup", "pid-dup-00000001")
    drafts = [dup] * 10 + [draft(f"m{n}") for n in range(20)]
    results = await asyncio.gather(*(store.log.append(room, d) for d in drafts))
    assert len({m.id for m in results[:10]}) == 1
    assert sorted({m.id for m in results}) == list(range(1, 22))
    assert [m.id for m in await stored(store, room)] == list(range(1, 22))


async def test_duplicates_through_several_clients_are_stored_once(
    store: Store, room: RoomId
) -> None:
    dups = [draft("dup", f"pid-shared-{n:04d}") for n in range(10)]
    async with store.another() as second:
        calls = [log.append(room, d) for d in dups for log in (store.log, second, store.log)]
        results = await asyncio.gather(*calls)
    for n in range(10):
        assert len({m.id for m in results[3 * n : 3 * n + 3]}) == 1
    assert [m.id for m in await stored(store, room)] == list(range(1, 11))


async def test_rooms_are_independent(store: Store) -> None:
    a, b = RoomId(f"a-{uuid.uuid4().hex[:8]}"), RoomId(f"b-{uuid.uuid4().hex[:8]}")
    same = "pid-same-00000001"
    results = await asyncio.gather(
        *(
            store.log.append(room, draft(room.value, same if n == 0 else None))
            for n in range(10)
            for room in (a, b)
        )
    )
    assert sorted(m.id for m in results if m.text == a.value) == list(range(1, 11))
    assert sorted(m.id for m in results if m.text == b.value) == list(range(1, 11))
    for room in (a, b):
        page = await store.log.latest(room, 50)
        assert [m.text for m in page.messages] == [room.value] * 10
        assert page.last_id == 10


async def test_retention_keeps_the_newest(open_store: Callable[[int], Any], room: RoomId) -> None:
    async with open_store(5) as store:
        for n in range(12):
            await store.log.append(room, draft(f"m{n}"))
        assert [m.id for m in await stored(store, room)] == [8, 9, 10, 11, 12]
        latest = await store.log.latest(room, 50)
        assert [m.id for m in latest.messages] == [8, 9, 10, 11, 12]
        assert latest.last_id == 12
        after = await store.log.after(room, 3, 50)
        assert [m.id for m in after.messages] == [8, 9, 10, 11, 12]
        assert [m.id for m in (await store.log.after(room, 9, 2)).messages] == [10, 11]
        assert (await store.log.after(room, 12, 50)).messages == ()
        assert (await store.log.before(room, 8, 50)).messages == ()
        assert [m.id for m in (await store.log.before(room, 10, 50)).messages] == [8, 9]
        assert [m.id for m in (await store.log.before(room, 99, 2)).messages] == [11, 12]


async def test_ids_are_never_reused_after_trimming(
    open_store: Callable[[int], Any], room: RoomId
) -> None:
    async with open_store(1) as store:
        for n in range(3):
            await store.log.append(room, draft(f"m{n}"))
        assert [m.id for m in await stored(store, room)] == [3]
        assert (await store.log.append(room, draft("next"))).id == 4
        assert [m.id for m in await stored(store, room)] == [4]


async def test_retention_under_concurrent_appends(
    open_store: Callable[[int], Any], room: RoomId
) -> None:
    async with open_store(10) as store:
        results = await asyncio.gather(*(store.log.append(room, draft()) for _ in range(40)))
        assert sorted(m.id for m in results) == list(range(1, 41))
        assert [m.id for m in await stored(store, room)] == list(range(31, 41))


async def test_many_rooms_at_once_keep_their_own_ids_and_retention(
    open_store: Callable[[int], Any],
) -> None:
    rooms = [RoomId(f"many-{n}-{uuid.uuid4().hex[:6]}") for n in range(70)]
    async with open_store(2) as store:
        results = await asyncio.gather(
            *(store.log.append(room, draft(room.value)) for _ in range(3) for room in rooms)
        )
        for room in rooms:
            assert sorted(m.id for m in results if m.text == room.value) == [1, 2, 3]
            assert [m.id for m in await stored(store, room)] == [2, 3]
