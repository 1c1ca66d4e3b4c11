"""Typing and presence over real HTTP and SSE (direct mode), on every store."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest

from flychat.config import Settings
from flychat.entrypoints.app import create_app
from tests.e2e.conftest import store_url
from tests.e2e.streams import StreamReader, open_stream
from tests.support.servers import app_in_thread
from tests.support.sse import Event

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def beat(client: httpx.AsyncClient, room: str, who: str, **extra: str) -> httpx.Response:
    return await client.post(f"/rooms/{room}/presence", data={"from": who, **extra})


async def typing(client: httpx.AsyncClient, room: str, who: str, **extra: str) -> httpx.Response:
    return await client.post(f"/rooms/{room}/typing", data={"from": who, **extra})


async def ephemeral(stream: StreamReader, timeout: float = 5.0) -> Event:
    """The next typing or presence event, skipping messages."""
    while True:
        event = await stream.next(timeout)
        if event.event in ("typing", "presence"):
            return event


async def nothing_more(stream: StreamReader, client: httpx.AsyncClient, room: str) -> None:
    """Prove no ephemeral event is pending: the next one is a sentinel sent now."""
    assert (await typing(client, room, "sentinel", typing="false")).status_code == 204
    event = await ephemeral(stream)
    assert event.json() == {"from": "sentinel", "typing": False, "seconds": 6}


async def test_heartbeat_answers_the_members_sorted_by_from(
    client: httpx.AsyncClient, room: str
) -> None:
    await beat(client, room, "zoe")
    await beat(client, room, "  alice \n")
    response = await client.post(f"/rooms/{room}/presence", json={"from": "mia"})
    assert response.status_code == 200
    body = response.json()
    assert [m["from"] for m in body["members"]] == ["alice", "mia", "zoe"]
    assert body["count"] == 3
    assert all(
        list(m) == ["from", "lastSeen"] and DATE.fullmatch(m["lastSeen"]) for m in body["members"]
    )
    listed = (await client.get(f"/rooms/{room}/presence")).json()
    assert [m["from"] for m in listed["members"]] == ["alice", "mia", "zoe"]
    assert listed["count"] == 3


async def test_presence_changes_are_announced_once(client: httpx.AsyncClient, room: str) -> None:
    async with open_stream(client, room) as stream:
        assert (await stream.next()).event == "stream-open"
        await beat(client, room, "alice")
        await beat(client, room, "alice")
        await beat(client, room, "bob")
        first, second = await ephemeral(stream), await ephemeral(stream)
        assert (first.event, first.id, first.json()) == (
            "presence",
            None,
            {"from": "alice", "present": True},
        )
        assert second.json() == {"from": "bob", "present": True}
        left = (await beat(client, room, "alice", leave="true")).json()
        assert [m["from"] for m in left["members"]] == ["bob"] and left["count"] == 1
        await beat(client, room, "alice", leave="true")
        gone = await ephemeral(stream)
        assert (gone.event, gone.json()) == ("presence", {"from": "alice", "present": False})
        await nothing_more(stream, client, room)


async def test_typing_is_coalesced_and_false_always_goes_out(
    client: httpx.AsyncClient, room: str
) -> None:
    async with open_stream(client, room) as stream:
        assert (await stream.next()).event == "stream-open"
        responses = [await typing(client, room, "alice") for _ in range(3)]
        as_json = await client.post(f"/rooms/{room}/typing", json={"from": "alice", "typing": True})
        assert [r.status_code for r in [*responses, as_json]] == [204] * 4
        assert all(r.content == b"" for r in responses)
        event = await ephemeral(stream)
        assert (event.event, event.id) == ("typing", None)
        assert event.json() == {"from": "alice", "typing": True, "seconds": 6}
        await client.post(f"/rooms/{room}/typing", json={"from": "alice", "typing": False})
        stopped = await ephemeral(stream)
        assert stopped.json() == {"from": "alice", "typing": False, "seconds": 6}
        await typing(client, room, "alice", typing="true")
        assert (await ephemeral(stream)).json()["typing"] is True
        await nothing_more(stream, client, room)


async def test_ephemeral_events_take_no_id_and_are_not_history(
    client: httpx.AsyncClient, room: str
) -> None:
    await beat(client, room, "alice")
    await typing(client, room, "alice")
    history = (await client.get(f"/rooms/{room}/messages/")).json()
    assert history == {"messages": [], "lastEventId": 0}
    posted = await client.post(f"/rooms/{room}/messages/", data={"from": "alice", "text": "hi"})
    assert posted.json()["id"] == 1


BAD_FIELDS = [
    ({"text": "no sender"}, "from"),
    ({"from": "   "}, "from"),
    ({"from": "x" * 65}, "from"),
    ({"from": "bell\x07"}, "from"),
    ({"from": "a\x00b"}, "from"),
]


@pytest.mark.parametrize("path", ["typing", "presence"])
@pytest.mark.parametrize(("fields", "field"), BAD_FIELDS)
async def test_bad_senders_are_rejected_and_nothing_happens(
    client: httpx.AsyncClient, room: str, path: str, fields: dict[str, str], field: str
) -> None:
    async with open_stream(client, room) as stream:
        assert (await stream.next()).event == "stream-open"
        response = await client.post(f"/rooms/{room}/{path}", data=fields)
        assert response.status_code == 400
        assert response.json()["field"] == field
        await nothing_more(stream, client, room)
    assert (await client.get(f"/rooms/{room}/presence")).json() == {"members": [], "count": 0}


@pytest.mark.parametrize("path", ["typing", "presence"])
async def test_bad_bodies_and_rooms_are_refused(
    client: httpx.AsyncClient, room: str, path: str
) -> None:
    url = f"/rooms/{room}/{path}"
    cases = [
        (
            await client.post(
                url, content=b"{not json", headers={"Content-Type": "application/json"}
            ),
            400,
        ),
        (await client.post(url, content=b"[1]", headers={"Content-Type": "application/json"}), 400),
        (await client.post(url, content=b"from=a", headers={"Content-Type": "text/plain"}), 415),
        (await client.post(url, data={"from": "a", "text": "x" * 70_000}), 413),
        (await client.post(f"/rooms/bad!room/{path}", data={"from": "a"}), 400),
        (await client.post(f"/rooms/static/{path}", data={"from": "a"}), 400),
        (await client.post(url, data={"from": "a", "typing": "maybe", "leave": "maybe"}), 400),
    ]
    assert [r.status_code for r, _ in cases] == [status for _, status in cases]
    assert all("error" in r.json() for r, _ in cases)
    assert (await client.get(f"/rooms/{room}/presence")).json()["count"] == 0
    assert (await client.get("/rooms/bad!room/presence")).status_code == 400


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def short_ttl_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with store_url(request.param, tmp_path_factory.mktemp("ttl")) as url:
        settings = Settings(database_url=url, presence_ttl=2, presence_sweep_seconds=0.2)
        with app_in_thread(create_app(settings)) as base:
            yield base


async def test_a_silent_member_expires_and_is_announced_gone_once(
    short_ttl_url: str, room: str
) -> None:
    async with (
        httpx.AsyncClient(base_url=short_ttl_url, timeout=10) as client,
        open_stream(client, room) as stream,
    ):
        assert (await stream.next()).event == "stream-open"
        await beat(client, room, "alice")
        await beat(client, room, "bob")
        assert (await ephemeral(stream)).json() == {"from": "alice", "present": True}
        assert (await ephemeral(stream)).json() == {"from": "bob", "present": True}
        for _ in range(6):
            await asyncio.sleep(0.5)
            await beat(client, room, "bob")
        gone = await ephemeral(stream, timeout=15)
        assert gone.json() == {"from": "alice", "present": False}
        listed = (await client.get(f"/rooms/{room}/presence")).json()
        assert [m["from"] for m in listed["members"]] == ["bob"]
        await nothing_more(stream, client, room)
