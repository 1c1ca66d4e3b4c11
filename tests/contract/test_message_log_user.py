"""MessageLog contract, the sender's token ``sub``: stored, read back, absent without one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from flychat.domain.model import Draft, RoomId
from tests.contract.conftest import Store

NOW = datetime(2026, 12, 1, 8, 0, 0, 500000, tzinfo=UTC)


def draft(text: str, user: str | None) -> Draft:
    return Draft(str(uuid.uuid4()), "Alice Liddell", text, NOW, user)


async def test_user_round_trips_through_every_read(store: Store, room: RoomId) -> None:
    first = await store.log.append(room, draft("signed", "alice-42"))
    second = await store.log.append(room, draft("open mode", None))
    assert (first.user, second.user) == ("alice-42", None)
    latest = await store.log.latest(room, 10)
    after = await store.log.after(room, 0, 10)
    before = await store.log.before(room, 3, 10)
    for page in (latest, after, before):
        assert [(m.text, m.user) for m in page.messages] == [
            ("signed", "alice-42"),
            ("open mode", None),
        ]
        assert page.messages[0] == first


async def test_repeated_provisional_id_keeps_the_first_user(store: Store, room: RoomId) -> None:
    original = draft("mine", "alice-42")
    stored = await store.log.append(room, original)
    again = await store.log.append(
        room, Draft(original.provisional_id, "Mallory", "retry", NOW, "mallory")
    )
    assert again == stored
    assert again.user == "alice-42"


async def test_concurrent_appends_keep_each_user(store: Store, room: RoomId) -> None:
    drafts = [draft(f"m{n}", f"user-{n}" if n % 2 else None) for n in range(20)]
    results = await asyncio.gather(*(store.log.append(room, d) for d in drafts))
    by_text = {m.text: m.user for m in results}
    assert by_text == {d.text: d.user for d in drafts}
    read = (await store.log.after(room, 0, 50)).messages
    assert {m.text: m.user for m in read} == by_text
