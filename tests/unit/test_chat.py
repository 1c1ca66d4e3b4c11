import asyncio

import pytest

from flychat.adapters.memory import InMemoryMessageLog, RecordingPublisher
from flychat.domain.errors import AppendConflict, InvalidInput, StorageUnavailable
from flychat.domain.messages import Chat, ChatRules
from flychat.domain.model import Draft, Message, RoomId

from .fakes import NOW, CountingIds, make_chat

ROOM = RoomId("lobby")


async def test_post_publishes_provisional_then_durable() -> None:
    chat, log, publisher = make_chat()
    message = await chat.post(ROOM, " alice ", "hi\r\nthere")
    assert (message.id, message.sender, message.text) == (1, "alice", "hi\nthere")
    assert message.provisional_id == "generated-0001"
    assert message.date.microsecond == 123000
    kinds = [(kind, room) for kind, room, _ in publisher.events]
    assert kinds == [("provisional", "lobby"), ("message", "lobby")]
    draft = publisher.events[0][2]
    assert isinstance(draft, Draft) and draft.provisional_id == message.provisional_id
    assert publisher.events[1][2] == message
    assert (await log.latest(ROOM, 10)).messages == (message,)


async def test_post_is_idempotent_on_provisional_id() -> None:
    chat, log, publisher = make_chat()
    first = await chat.post(ROOM, "alice", "hi", "client-id-1")
    again = await chat.post(ROOM, "alice", "hi (retried)", "client-id-1")
    assert again == first
    page = await log.latest(ROOM, 10)
    assert page.last_id == 1 and len(page.messages) == 1
    assert [kind for kind, _, _ in publisher.events] == ["provisional", "message", "provisional"]


async def test_invalid_input_stores_and_publishes_nothing() -> None:
    chat, log, publisher = make_chat()
    for sender, text, pid in [("", "hi", None), ("bob", " ", None), ("bob", "hi", "bad id")]:
        with pytest.raises(InvalidInput):
            await chat.post(ROOM, sender, text, pid)
    assert publisher.events == []
    assert (await log.latest(ROOM, 10)).last_id == 0


async def test_storage_failure_retracts_the_provisional_event() -> None:
    chat, log, publisher = make_chat()
    log.available = False
    with pytest.raises(StorageUnavailable):
        await chat.post(ROOM, "alice", "lost", "client-id-2")
    assert [(k, v if isinstance(v, str) else v.provisional_id) for k, _, v in publisher.events] == [
        ("provisional", "client-id-2"),
        ("retraction", "client-id-2"),
    ]


class ConflictingLog(InMemoryMessageLog):
    """Loses the race ``conflicts`` times before an append goes through."""

    def __init__(self, conflicts: int) -> None:
        super().__init__()
        self.conflicts = conflicts

    async def append(self, room: RoomId, draft: Draft) -> Message:
        if self.conflicts:
            self.conflicts -= 1
            raise AppendConflict("lost the race")
        return await super().append(room, draft)


async def test_append_conflicts_are_retried() -> None:
    log = ConflictingLog(conflicts=3)
    chat = Chat(log, [], lambda: NOW, CountingIds())
    assert (await chat.post(ROOM, "alice", "hi")).id == 1


async def test_endless_conflicts_become_unavailable() -> None:
    log = ConflictingLog(conflicts=10_000)
    publisher = RecordingPublisher()
    chat = Chat(log, [publisher], lambda: NOW, CountingIds(), ChatRules(append_attempts=3))
    with pytest.raises(StorageUnavailable):
        await chat.post(ROOM, "alice", "hi")
    assert publisher.events[-1][0] == "retraction"


class BrokenPublisher(RecordingPublisher):
    def publish_message(self, room: RoomId, message: Message) -> None:
        raise RuntimeError("proxy down")


async def test_failing_publisher_never_fails_the_post() -> None:
    log = InMemoryMessageLog()
    healthy = RecordingPublisher()
    chat = Chat(log, [BrokenPublisher(), healthy], lambda: NOW, CountingIds())
    message = await chat.post(ROOM, "alice", "hi")
    assert message.id == 1
    assert [kind for kind, _, _ in healthy.events] == ["provisional", "message"]


async def test_concurrent_posts_get_gapless_ids() -> None:
    chat, _, _ = make_chat()
    results = await asyncio.gather(*(chat.post(ROOM, "u", f"m{i}") for i in range(100)))
    assert sorted(m.id for m in results) == list(range(1, 101))


async def test_history_paging() -> None:
    chat, _, _ = make_chat()
    for i in range(1, 121):
        await chat.post(ROOM, "u", f"m{i}")
    newest = await chat.history(ROOM)
    assert [m.id for m in newest.messages] == list(range(71, 121)) and newest.last_id == 120
    after = await chat.history(ROOM, after=10, limit=5)
    assert [m.id for m in after.messages] == [11, 12, 13, 14, 15]
    before = await chat.history(ROOM, before=10, limit=5)
    assert [m.id for m in before.messages] == [5, 6, 7, 8, 9]
    with pytest.raises(InvalidInput):
        await chat.history(ROOM, after=1, before=5)
    for bad in (0, 501):
        with pytest.raises(InvalidInput):
            await chat.history(ROOM, limit=bad)


async def test_replay_without_position_is_the_newest_history() -> None:
    chat, _, _ = make_chat()
    for i in range(60):
        await chat.post(ROOM, "u", f"m{i}")
    replay = await chat.replay(ROOM, None)
    assert not replay.reset and replay.last_id == 60
    assert [m.id for m in replay.messages] == list(range(11, 61))


async def test_replay_from_a_position_sends_everything_after_it() -> None:
    chat, _, _ = make_chat()
    for i in range(60):
        await chat.post(ROOM, "u", f"m{i}")
    replay = await chat.replay(ROOM, 3)
    assert not replay.reset and [m.id for m in replay.messages] == list(range(4, 61))
    caught_up = await chat.replay(ROOM, 60)
    assert not caught_up.reset and caught_up.messages == () and caught_up.last_id == 60


async def test_replay_resets_when_position_is_beyond_the_last_id() -> None:
    chat, _, _ = make_chat()
    await chat.post(ROOM, "u", "only")
    replay = await chat.replay(ROOM, 99)
    assert replay.reset and replay.last_id == 1 and [m.id for m in replay.messages] == [1]
    empty = await chat.replay(RoomId("empty"), 5)
    assert empty.reset and empty.last_id == 0 and empty.messages == ()


async def test_replay_resets_when_the_position_is_older_than_retention() -> None:
    chat, _, _ = make_chat(retention=100)
    for i in range(150):
        await chat.post(ROOM, "u", f"m{i}")
    kept = await chat.replay(ROOM, 50)
    assert not kept.reset and kept.messages[0].id == 51
    assert (await chat.replay(ROOM, 49)).reset
    old = await chat.replay(ROOM, 10)
    assert old.reset and [m.id for m in old.messages] == list(range(101, 151))


async def test_replay_resets_when_too_far_behind() -> None:
    chat, _, _ = make_chat(retention=5000, rules=ChatRules(max_replay=20))
    for i in range(30):
        await chat.post(ROOM, "u", f"m{i}")
    assert (await chat.replay(ROOM, 10)).reset is False
    assert (await chat.replay(ROOM, 9)).reset is True
