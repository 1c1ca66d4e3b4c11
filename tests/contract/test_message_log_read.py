"""MessageLog contract, reading: pages, last id, round trips, unavailability."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from flychat.domain.errors import StorageUnavailable
from flychat.domain.model import Draft, RoomId
from tests.contract.conftest import Store

NOW = datetime(2026, 11, 27, 21, 0, 0, 123000, tzinfo=UTC)


def draft(text: str = "hi", date: datetime = NOW) -> Draft:
    return Draft(str(uuid.uuid4()), "alice", text, date)


async def fill(store: Store, room: RoomId, count: int) -> None:
    for n in range(1, count + 1):
        await store.log.append(room, draft(f"m{n}"))


def ids(page: object) -> list[int]:
    return [m.id for m in page.messages]  # type: ignore[attr-defined]


async def test_an_empty_room_has_last_id_0(store: Store, room: RoomId) -> None:
    for page in (
        await store.log.latest(room, 50),
        await store.log.after(room, 0, 50),
        await store.log.after(room, 7, 50),
        await store.log.before(room, 10, 50),
    ):
        assert page.messages == ()
        assert page.last_id == 0
    await store.log.check()


async def test_latest(store: Store, room: RoomId) -> None:
    await fill(store, room, 10)
    page = await store.log.latest(room, 3)
    assert ids(page) == [8, 9, 10]
    assert [m.text for m in page.messages] == ["m8", "m9", "m10"]
    assert page.last_id == 10
    assert ids(await store.log.latest(room, 50)) == list(range(1, 11))
    assert ids(await store.log.latest(room, 0)) == []


async def test_after(store: Store, room: RoomId) -> None:
    await fill(store, room, 10)
    assert ids(await store.log.after(room, 0, 4)) == [1, 2, 3, 4]
    assert ids(await store.log.after(room, 3, 2)) == [4, 5]
    assert ids(await store.log.after(room, 7, 50)) == [8, 9, 10]
    last = await store.log.after(room, 10, 50)
    assert (ids(last), last.last_id) == ([], 10)
    beyond = await store.log.after(room, 99, 50)
    assert (ids(beyond), beyond.last_id) == ([], 10)


async def test_before(store: Store, room: RoomId) -> None:
    await fill(store, room, 10)
    page = await store.log.before(room, 5, 2)
    assert (ids(page), page.last_id) == ([3, 4], 10)
    assert ids(await store.log.before(room, 5, 50)) == [1, 2, 3, 4]
    assert ids(await store.log.before(room, 1, 50)) == []
    assert ids(await store.log.before(room, 1000, 3)) == [8, 9, 10]


@pytest.mark.parametrize(
    "date",
    [
        NOW,
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 7, 20, 20, 17, 40, 1000, tzinfo=UTC),
        datetime(2000, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ],
)
async def test_dates_round_trip_exactly(store: Store, room: RoomId, date: datetime) -> None:
    appended = await store.log.append(room, draft(date=date))
    (read,) = (await store.log.latest(room, 1)).messages
    for message in (appended, read):
        assert message.date == date
        assert message.date.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "héllo wörld ñ",
        "日本語のテキスト 中文 한국어",
        "emoji 😀👍🏽 🇫🇷 family 👨‍👩‍👧",
        "שלום مرحبا",
        "e\u0301 combining, zero\u200bwidth",
        "quotes ' \" ` and <b>tags</b> & ; -- DROP TABLE messages;",
        "line one\nline two\ttabbed\n\nevent: stream-reset\ndata: x",
        "astral \U00013000\U00010348\U0001f9ea " * 400,
    ],
)
async def test_text_round_trips(store: Store, room: RoomId, text: str) -> None:
    d = Draft(str(uuid.uuid4()), "Zoë 🦊", text, NOW)
    appended = await store.log.append(room, d)
    (read,) = (await store.log.latest(room, 1)).messages
    assert read == appended
    assert (read.text, read.sender) == (text, "Zoë 🦊")


async def test_an_unreachable_store_raises_storage_unavailable(store: Store, room: RoomId) -> None:
    async with store.dead() as dead:
        with pytest.raises(StorageUnavailable):
            await dead.append(room, draft())
        with pytest.raises(StorageUnavailable):
            await dead.latest(room, 50)
        with pytest.raises(StorageUnavailable):
            await dead.after(room, 0, 50)
        with pytest.raises(StorageUnavailable):
            await dead.before(room, 5, 50)
        with pytest.raises(StorageUnavailable):
            await dead.check()


async def test_pages_agree_with_last_id_while_appends_run(store: Store, room: RoomId) -> None:
    async def reader() -> None:
        for _ in range(20):
            page = await store.log.latest(room, 5)
            if page.messages:
                assert page.messages[-1].id == page.last_id
            following = await store.log.after(room, max(page.last_id - 3, 0), 50)
            assert following.last_id >= page.last_id
            if following.messages:
                assert following.messages[-1].id == following.last_id

    async def writer() -> None:
        for n in range(40):
            await store.log.append(room, draft(f"m{n}"))

    await asyncio.gather(writer(), writer(), reader(), reader())
