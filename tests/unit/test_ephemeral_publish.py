"""Ephemeral events on each publisher: the provisional path, no id, no prev-id."""

from __future__ import annotations

import json

import httpx

from flychat.adapters.grip.proxy import parse_grip_url
from flychat.adapters.grip.publisher import GripPublisher
from flychat.adapters.local_broker import LocalBroker
from flychat.domain.model import RoomId, Sender
from flychat.domain.wire import sse_presence, sse_typing

ROOM = RoomId("lobby")
KEY = "a-pushpin-signing-key-of-32-bytes!"


async def test_local_broker_delivers_ephemeral_events_to_the_room_only() -> None:
    broker = LocalBroker()
    here, there = broker.subscribe(ROOM), broker.subscribe(RoomId("other"))
    event = sse_typing(Sender("alice", "alice"), True, 6)
    broker.publish_ephemeral(ROOM, event)
    assert await here.receive(0.1) == [event]
    assert await there.receive(0.01) == []


async def test_grip_publisher_sends_ephemeral_events_on_the_provisional_channel() -> None:
    bodies: list[bytes] = []

    def proxy(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(200)

    grip_url = f"http://127.0.0.1:5561?iss=pushpin&key={KEY}"
    publisher = GripPublisher(
        [parse_grip_url(grip_url)], "fc-", transport=httpx.MockTransport(proxy)
    )
    await publisher.start()
    publisher.publish_ephemeral(ROOM, sse_presence("alice", None, True))
    await publisher.close()
    [item] = [item for body in bodies for item in json.loads(body)["items"]]
    assert item == {
        "channel": "fc-provisional-lobby",
        "http-stream": {"content": 'event: presence\ndata: {"from":"alice","present":true}\n\n'},
    }
