"""Presence and typing rules with in-memory fakes: coalescing, keying, expiry, events."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest

from flychat.adapters.memory import InMemoryPresenceStore, RecordingPublisher
from flychat.domain.errors import InvalidInput
from flychat.domain.model import RoomId, Sender, to_millis
from flychat.domain.presence import Presence, PresenceRules, TypingGate, parse_flag
from tests.unit.fakes import NOW

ROOM = RoomId("lobby")
ALICE = Sender("alice", "alice")


class Clocks:
    """A wall clock and a monotonic clock that tests move by hand."""

    def __init__(self) -> None:
        self.wall = NOW
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def make_presence(ttl: float = 60) -> tuple[Presence, RecordingPublisher, Clocks]:
    clocks = Clocks()
    publisher = RecordingPublisher()
    presence = Presence(
        InMemoryPresenceStore(),
        [publisher],
        clocks.now,
        PresenceRules(ttl_seconds=ttl, sweep_seconds=0.01, sweep_limit=2),
        TypingGate(now=clocks.monotonic),
    )
    return presence, publisher, clocks


def sent(publisher: RecordingPublisher) -> list[tuple[str, str, dict[str, object]]]:
    """(room, event name, data) of every ephemeral event published."""
    found = []
    for kind, room, sse in publisher.events:
        assert kind == "ephemeral" and isinstance(sse, str)
        lines = sse.strip().split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: ")
        assert len(lines) == 2, "ephemeral events carry no id"
        found.append((room, lines[0][7:], json.loads(lines[1][6:])))
    return found


def test_typing_repeats_within_2_seconds_are_coalesced() -> None:
    presence, publisher, clocks = make_presence()
    assert presence.typing(ROOM, ALICE, True) is True
    clocks.advance(1.9)
    assert presence.typing(ROOM, ALICE, True) is False
    clocks.advance(0.1)
    assert presence.typing(ROOM, ALICE, True) is True
    assert (
        sent(publisher)
        == [("lobby", "typing", {"from": "alice", "typing": True, "seconds": 6})] * 2
    )


def test_typing_false_always_goes_out_and_reopens_the_gate() -> None:
    presence, publisher, _ = make_presence()
    presence.typing(ROOM, ALICE, True)
    assert presence.typing(ROOM, ALICE, False) is True
    assert presence.typing(ROOM, ALICE, False) is True
    assert presence.typing(ROOM, ALICE, True) is True
    assert [data["typing"] for _, _, data in sent(publisher)] == [True, False, False, True]


def test_typing_is_coalesced_per_sender_and_per_room() -> None:
    presence, publisher, _ = make_presence()
    assert presence.typing(ROOM, ALICE, True)
    assert presence.typing(ROOM, Sender("bob", "bob"), True)
    assert presence.typing(RoomId("other"), ALICE, True)
    assert not presence.typing(ROOM, ALICE, True)
    assert len(sent(publisher)) == 3


def test_typing_is_keyed_by_key_not_by_display_name() -> None:
    presence, publisher, _ = make_presence()
    assert presence.typing(ROOM, Sender("u1", "Alice", "u1"), True)
    assert not presence.typing(ROOM, Sender("u1", "Alice B.", "u1"), True)
    assert presence.typing(ROOM, Sender("u2", "Alice", "u2"), True)
    assert sent(publisher)[0][2] == {"from": "Alice", "user": "u1", "typing": True, "seconds": 6}


def test_the_typing_gate_stays_bounded() -> None:
    clocks = Clocks()
    gate = TypingGate(now=clocks.monotonic, max_entries=10)
    for n in range(100):
        assert gate.admit(ROOM, f"s{n}", True)
    assert len(gate._last) <= 10
    assert not gate.admit(ROOM, "s99", True)


async def test_heartbeats_announce_a_member_once() -> None:
    presence, publisher, clocks = make_presence()
    first = await presence.heartbeat(ROOM, ALICE)
    clocks.advance(10)
    second = await presence.heartbeat(ROOM, ALICE)
    assert [m.name for m in first] == ["alice"] and second[0].last_seen == to_millis(clocks.wall)
    assert sent(publisher) == [("lobby", "presence", {"from": "alice", "present": True})]


async def test_leave_announces_gone_once() -> None:
    presence, publisher, _ = make_presence()
    await presence.heartbeat(ROOM, ALICE)
    assert await presence.leave(ROOM, ALICE) == []
    await presence.leave(ROOM, ALICE)
    assert [data for _, _, data in sent(publisher)] == [
        {"from": "alice", "present": True},
        {"from": "alice", "present": False},
    ]


async def test_members_are_keyed_and_sorted_by_from() -> None:
    presence, _, _ = make_presence()
    await presence.heartbeat(ROOM, Sender("u2", "zed", "u2"))
    await presence.heartbeat(ROOM, Sender("u1", "amy", "u1"))
    await presence.heartbeat(ROOM, Sender("u1", "amy b", "u1"))
    await presence.heartbeat(ROOM, Sender("amy", "amy"))
    members = await presence.members(ROOM)
    assert [(m.name, m.key) for m in members] == [("amy", "amy"), ("amy b", "u1"), ("zed", "u2")]


async def test_a_member_is_never_listed_past_the_ttl_even_before_a_sweep() -> None:
    presence, publisher, clocks = make_presence(ttl=60)
    await presence.heartbeat(ROOM, ALICE)
    clocks.advance(60)
    assert [m.name for m in await presence.members(ROOM)] == ["alice"]
    clocks.advance(0.001)
    assert await presence.members(ROOM) == []
    assert len(sent(publisher)) == 1


async def test_a_sweep_announces_each_expired_member_once() -> None:
    presence, publisher, clocks = make_presence(ttl=60)
    await presence.heartbeat(ROOM, ALICE)
    await presence.heartbeat(RoomId("other"), Sender("bob", "bob"))
    clocks.advance(30)
    await presence.heartbeat(ROOM, Sender("carol", "carol"))
    clocks.advance(31)
    assert await presence.sweep() == 2
    assert await presence.sweep() == 0
    gone = [(room, data) for room, _, data in sent(publisher) if data["present"] is False]
    assert sorted(gone, key=str) == [
        ("lobby", {"from": "alice", "present": False}),
        ("other", {"from": "bob", "present": False}),
    ]
    assert [m.name for m in await presence.members(ROOM)] == ["carol"]


async def test_the_sweeper_loop_empties_a_backlog_in_bounded_rounds() -> None:
    presence, publisher, clocks = make_presence(ttl=60)
    for n in range(5):
        await presence.heartbeat(ROOM, Sender(f"m{n}", f"m{n}"))
    clocks.advance(61)
    task = asyncio.create_task(presence.run_sweeps())
    try:
        async with asyncio.timeout(5):
            while len(sent(publisher)) < 10:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert await presence.members(ROOM) == []


async def test_a_member_back_after_expiry_is_new_again() -> None:
    presence, publisher, clocks = make_presence(ttl=60)
    await presence.heartbeat(ROOM, ALICE)
    clocks.advance(61)
    await presence.sweep()
    await presence.heartbeat(ROOM, ALICE)
    assert [data["present"] for _, _, data in sent(publisher)] == [True, False, True]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, True), ("", True), (True, True), (False, False), ("false", False), ("0", False),
     (" TRUE ", True), ("on", True), ("no", False)],
)  # fmt: skip
def test_parse_flag(raw: object, expected: bool) -> None:
    assert parse_flag("typing", raw, default=True) is expected


@pytest.mark.parametrize("raw", ["maybe", 1, 0, [], {}])
def test_parse_flag_rejects_other_values(raw: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_flag("leave", raw, default=False)
    assert caught.value.field == "leave"
