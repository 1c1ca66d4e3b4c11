"""The SSE stream over real HTTP, parsed from the wire."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from flychat.config import Settings
from flychat.entrypoints.app import create_app
from tests.e2e.streams import open_stream
from tests.support.servers import app_in_thread


async def post(client: httpx.AsyncClient, room: str, text: str, **extra: str) -> dict[str, object]:
    response = await client.post(
        f"/rooms/{room}/messages/", data={"from": "alice", "text": text, **extra}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def fill(client: httpx.AsyncClient, room: str, count: int) -> None:
    for i in range(1, count + 1):
        await post(client, room, f"m{i}")


async def test_stream_starts_with_open_then_history(client: httpx.AsyncClient, room: str) -> None:
    await fill(client, room, 60)
    async with open_stream(client, room) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"] == "text/event-stream"
        assert stream.response.headers["cache-control"] == "no-cache"
        opened = await stream.next()
        assert (opened.event, opened.data, opened.id) == ("stream-open", "{}", None)
        history = await stream.take(50)
        assert [int(e.id or 0) for e in history] == list(range(11, 61))
        assert all(e.event == "message" and e.json()["id"] == int(e.id or 0) for e in history)


async def first_bytes(client: httpx.AsyncClient, room: str, size: int) -> bytes:
    """The first ``size`` bytes of the room's stream, as the server sent them."""
    received = b""
    headers = {"Accept": "text/event-stream"}
    async with client.stream("GET", f"/rooms/{room}/messages/", headers=headers) as response:
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) >= size:
                break
    return received[:size]


async def test_stream_starts_with_the_retry_field(client: httpx.AsyncClient, room: str) -> None:
    expected = b"retry: 1000\n\nevent: stream-open\n"
    assert await first_bytes(client, room, len(expected)) == expected


async def test_the_retry_field_follows_the_setting() -> None:
    settings = Settings(database_url="memory://", sse_retry_ms=250)
    with app_in_thread(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert await first_bytes(client, "r", 13) == b"retry: 250\n\ne"


async def test_live_events_provisional_then_durable(client: httpx.AsyncClient, room: str) -> None:
    async with open_stream(client, room) as stream:
        assert (await stream.next()).event == "stream-open"
        await post(client, room, "live", provisionalId="live-0001")
        provisional, durable = await stream.take(2)
    assert provisional.id is None and provisional.event == "message"
    assert list(provisional.json()) == ["provisionalId", "from", "text", "date"]
    assert provisional.json()["provisionalId"] == "live-0001"
    assert durable.id == "1"
    assert durable.json()["provisionalId"] == "live-0001" and durable.json()["text"] == "live"


@pytest.mark.parametrize("how", ["header", "query"])
async def test_resume_after_a_position(client: httpx.AsyncClient, room: str, how: str) -> None:
    await fill(client, room, 8)
    kwargs = {"last_event_id": "5"} if how == "header" else {"query": {"lastEventId": "5"}}
    async with open_stream(client, room, **kwargs) as stream:  # type: ignore[arg-type]
        opened, *history = await stream.take(4)
        assert opened.event == "stream-open"
        assert [e.id for e in history] == ["6", "7", "8"]
        await post(client, room, "m9")
        assert [e.id for e in await stream.durable(1)] == ["9"]


async def test_header_wins_over_query_and_invalid_values_count_as_absent(
    client: httpx.AsyncClient, room: str
) -> None:
    await fill(client, room, 6)
    async with open_stream(client, room, last_event_id="4", query={"lastEventId": "1"}) as s:
        assert [e.id for e in (await s.take(3))[1:]] == ["5", "6"]
    async with open_stream(client, room, last_event_id="+4", query={"lastEventId": "2"}) as s:
        assert [e.id for e in (await s.take(5))[1:]] == ["3", "4", "5", "6"]
    for bad in ("3.0", "-1", "3a", ""):
        async with open_stream(client, room, last_event_id=bad) as s:
            assert [e.id for e in (await s.take(7))[1:]] == ["1", "2", "3", "4", "5", "6"]
    for bad in (" 3", "+3", "٣"):
        async with open_stream(client, room, query={"lastEventId": bad}) as s:
            assert [e.id for e in (await s.take(7))[1:]] == ["1", "2", "3", "4", "5", "6"]


async def test_position_beyond_last_id_resets(client: httpx.AsyncClient, room: str) -> None:
    await fill(client, room, 3)
    async with open_stream(client, room, last_event_id="9" * 30) as stream:
        opened, reset, *history = await stream.take(5)
    assert opened.event == "stream-open"
    assert (reset.event, reset.id, reset.json()) == ("stream-reset", "3", {"lastEventId": 3})
    assert [e.id for e in history] == ["1", "2", "3"]


async def test_reset_of_an_empty_room_carries_id_zero(client: httpx.AsyncClient, room: str) -> None:
    async with open_stream(client, room, last_event_id="12") as stream:
        _, reset = await stream.take(2)
    assert (reset.event, reset.id, reset.data) == ("stream-reset", "0", '{"lastEventId":0}')


async def test_position_older_than_retention_resets(client: httpx.AsyncClient, room: str) -> None:
    await fill(client, room, 230)
    async with open_stream(client, room, last_event_id="10") as stream:
        _, reset, *history = await stream.take(52)
    assert reset.event == "stream-reset" and reset.id == "230"
    assert [int(e.id or 0) for e in history] == list(range(181, 231))


async def test_too_many_missing_resets(client: httpx.AsyncClient, room: str) -> None:
    await fill(client, room, 150)
    async with open_stream(client, room, last_event_id="40") as stream:
        assert (await stream.take(2))[1].event == "stream-reset"
    async with open_stream(client, room, last_event_id="50") as stream:
        _, first = await stream.take(2)
        assert first.id == "51"


async def test_injected_sse_text_arrives_as_one_message(
    client: httpx.AsyncClient, room: str
) -> None:
    text = "\n\nevent: stream-reset\ndata: x"
    async with open_stream(client, room) as stream:
        await stream.next()
        await post(client, room, text)
        events = await stream.take(2)
        await post(client, room, "after")
        events += await stream.take(2)
    assert [e.event for e in events] == ["message"] * 4
    assert events[1].json()["text"] == text and events[1].id == "1"
    assert events[3].json()["text"] == "after"


async def test_keep_alive_comments_when_idle(client: httpx.AsyncClient, room: str) -> None:
    async with open_stream(client, room) as stream:
        await stream.next()
        comment = await stream.next(timeout=3, comments=True)
    assert comment.comment == "keep-alive"


async def test_concurrent_posts_arrive_in_order_once(client: httpx.AsyncClient, room: str) -> None:
    async with open_stream(client, room) as one, open_stream(client, room) as two:
        await one.next()
        await two.next()
        await asyncio.gather(*(post(client, room, f"c{i}") for i in range(40)))
        for stream in (one, two):
            assert [int(e.id or 0) for e in await stream.durable(40)] == list(range(1, 41))
