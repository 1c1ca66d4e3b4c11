"""PresenceStore contract: heartbeats say who is new, leave and expiry who removed whom."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from flychat.domain.errors import StorageUnavailable
from flychat.domain.model import Member, RoomId, Sender
from tests.contract.conftest import PresenceUnderTest

T0 = datetime(2026, 11, 27, 21, 0, 0, 123000, tzinfo=UTC)
ALICE = Sender("alice", "alice")
BOB = Sender("bob", "Bob", "u-bob")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fresh_room() -> RoomId:
    return RoomId(f"p-{uuid.uuid4().hex[:16]}")


async def names(p: PresenceUnderTest, room: RoomId, since: float = -3600) -> list[str]:
    return sorted(m.name for m in await p.store.members(room, at(since)))


async def test_first_heartbeat_is_new_and_repeats_are_not(
    presence: PresenceUnderTest, room: RoomId
) -> None:
    assert await presence.store.heartbeat(room, ALICE, at(0)) is True
    assert await presence.store.heartbeat(room, ALICE, at(1)) is False
    assert await presence.store.heartbeat(room, ALICE, at(2)) is False
    assert await presence.store.members(room, at(-60)) == [
        Member(room, "alice", "alice", None, at(2))
    ]


async def test_members_keep_name_and_user_and_rooms_are_apart(
    presence: PresenceUnderTest, room: RoomId
) -> None:
    other = fresh_room()
    await presence.store.heartbeat(room, ALICE, at(0))
    await presence.store.heartbeat(room, BOB, at(1))
    await presence.store.heartbeat(other, Sender("carol", "carol"), at(1))
    found = sorted(await presence.store.members(room, at(-60)), key=lambda m: m.key)
    assert found == [
        Member(room, "alice", "alice", None, at(0)),
        Member(room, "bob", "Bob", "u-bob", at(1)),
    ]
    assert await names(presence, other) == ["carol"]
    assert await presence.store.members(fresh_room(), at(-60)) == []


async def test_members_seen_before_the_cutoff_are_not_listed(
    presence: PresenceUnderTest, room: RoomId
) -> None:
    await presence.store.heartbeat(room, ALICE, at(0))
    await presence.store.heartbeat(room, BOB, at(10))
    assert await names(presence, room, since=0) == ["Bob", "alice"]
    assert await names(presence, room, since=5) == ["Bob"]
    assert await names(presence, room, since=11) == []


async def test_a_heartbeat_updates_the_name_and_never_moves_last_seen_back(
    presence: PresenceUnderTest, room: RoomId
) -> None:
    await presence.store.heartbeat(room, Sender("k1", "old name", "k1"), at(10))
    assert await presence.store.heartbeat(room, Sender("k1", "new name", "k1"), at(5)) is False
    [member] = await presence.store.members(room, at(-60))
    assert member.last_seen == at(10)
    await presence.store.heartbeat(room, Sender("k1", "newer", None), at(20))
    assert await presence.store.members(room, at(-60)) == [
        Member(room, "k1", "newer", None, at(20))
    ]


async def test_leave_removes_once(presence: PresenceUnderTest, room: RoomId) -> None:
    await presence.store.heartbeat(room, ALICE, at(0))
    await presence.store.heartbeat(room, BOB, at(0))
    assert await presence.store.leave(room, "alice") is True
    assert await presence.store.leave(room, "alice") is False
    assert await presence.store.leave(room, "nobody") is False
    assert await names(presence, room) == ["Bob"]
    assert await presence.store.heartbeat(room, ALICE, at(1)) is True


async def test_expire_in_a_room_removes_only_old_members_once(
    presence: PresenceUnderTest, room: RoomId
) -> None:
    other = fresh_room()
    await presence.store.heartbeat(room, ALICE, at(0))
    await presence.store.heartbeat(room, BOB, at(30))
    await presence.store.heartbeat(other, ALICE, at(0))
    removed = await presence.store.expire(room, at(10), 100)
    assert removed == [Member(room, "alice", "alice", None, at(0))]
    assert await presence.store.expire(room, at(10), 100) == []
    assert await names(presence, room) == ["Bob"]
    assert await names(presence, other) == ["alice"]
    assert await presence.store.heartbeat(room, ALICE, at(40)) is True


async def test_expire_in_every_room(presence: PresenceUnderTest) -> None:
    rooms = [fresh_room() for _ in range(3)]
    for room in rooms:
        await presence.store.heartbeat(room, ALICE, at(0))
        await presence.store.heartbeat(room, BOB, at(30))
    removed = await presence.store.expire(None, at(10), 10_000)
    mine = sorted((m.room.value, m.key) for m in removed if m.room in rooms)
    assert mine == sorted((r.value, "alice") for r in rooms)
    for room in rooms:
        assert await names(presence, room) == ["Bob"]


async def test_expire_respects_its_limit(presence: PresenceUnderTest, room: RoomId) -> None:
    for n in range(5):
        await presence.store.heartbeat(room, Sender(f"m{n}", f"m{n}"), at(n))
    first = await presence.store.expire(room, at(10), 3)
    rest = await presence.store.expire(room, at(10), 3)
    assert len(first) == 3 and len(rest) == 2
    assert sorted(m.key for m in first + rest) == [f"m{n}" for n in range(5)]
    assert await names(presence, room) == []


async def test_a_fresh_heartbeat_survives_expiry(presence: PresenceUnderTest, room: RoomId) -> None:
    await presence.store.heartbeat(room, ALICE, at(0))
    await presence.store.heartbeat(room, ALICE, at(20))
    assert await presence.store.expire(room, at(10), 100) == []
    assert await names(presence, room) == ["alice"]


async def test_racing_heartbeats_announce_a_new_member_once(
    presence: PresenceUnderTest, room: RoomId
) -> None:
    async with presence.another() as second, presence.another() as third:
        stores = [presence.store, second, third] * 8
        for round_ in range(5):
            sender = Sender(f"racer-{round_}", f"racer-{round_}")
            beats = [s.heartbeat(room, sender, at(round_)) for s in stores]
            results = await asyncio.gather(*beats)
            assert results.count(True) == 1, results


async def test_racing_expirers_remove_each_member_once(
    presence: PresenceUnderTest, room: RoomId
) -> None:
    members = [Sender(f"gone-{n}", f"gone-{n}") for n in range(12)]
    for sender in members:
        await presence.store.heartbeat(room, sender, at(0))
    async with presence.another() as second, presence.another() as third:
        stores = [presence.store, second, third, presence.store, second, third]
        results = await asyncio.gather(*(s.expire(room, at(10), 100) for s in stores))
    removed = sorted(m.key for result in results for m in result)
    assert removed == sorted(s.key for s in members)
    assert await names(presence, room) == []


async def test_racing_leaves_remove_once(presence: PresenceUnderTest, room: RoomId) -> None:
    await presence.store.heartbeat(room, ALICE, at(0))
    async with presence.another() as second:
        results = await asyncio.gather(
            *(s.leave(room, "alice") for s in [presence.store, second] * 4)
        )
    assert results.count(True) == 1


async def test_an_unreachable_store_raises_storage_unavailable(
    presence: PresenceUnderTest, room: RoomId
) -> None:
    async with presence.dead() as dead:
        with pytest.raises(StorageUnavailable):
            await dead.heartbeat(room, ALICE, at(0))
        with pytest.raises(StorageUnavailable):
            await dead.members(room, at(0))
