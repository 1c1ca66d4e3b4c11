"""GRIP streams end at their token's expiry: the slot channel, the next link, the closes."""

from __future__ import annotations

import asyncio
import json

import httpx

from flychat.adapters.grip.expiry import ExpiryCloser
from flychat.adapters.grip.proxy import parse_grip_url
from flychat.adapters.grip.publisher import GripPublisher
from flychat.domain.access import expiry_slot
from flychat.domain.model import RoomId
from flychat.entrypoints.grip.headers import hold_stream_headers

KEY = "a-pushpin-signing-key-of-32-bytes!"


def test_hold_headers_add_the_expiry_channel_and_put_the_slot_in_the_link_path() -> None:
    headers = hold_stream_headers(RoomId("lobby"), 7, prefix="p-", expiry=12345)
    assert headers["Grip-Channel"] == (
        "p-messages-lobby; prev-id=7, p-provisional-lobby, p-expiry-12345"
    )
    assert headers["Grip-Link"].startswith("</rooms/lobby/messages/expiry/12345/?recover=true>;")


def test_without_expiry_the_headers_are_unchanged() -> None:
    headers = hold_stream_headers(RoomId("lobby"), 7)
    assert headers["Grip-Channel"] == "messages-lobby; prev-id=7, provisional-lobby"
    assert headers["Grip-Link"].startswith("</rooms/lobby/messages/?recover=true>;")


class Recorder:
    def __init__(self) -> None:
        self.channels: list[str] = []

    def publish_close(self, channel: str) -> None:
        self.channels.append(channel)


def test_closer_closes_the_slot_that_just_ended_and_the_one_before() -> None:
    recorder = Recorder()
    now = [1000.0]
    closer = ExpiryCloser(recorder, "p-", slot_seconds=30, clock=lambda: now[0])
    assert closer.close_ended() == (33, 32)
    assert recorder.channels == ["p-expiry-33", "p-expiry-32"]


def test_every_token_of_a_closed_slot_has_expired() -> None:
    for exp in (990.0, 990.001, 1000.0, 1019.9, 1020.0):
        slot = expiry_slot(exp, 30)
        closed_at = slot * 30
        assert exp <= closed_at < exp + 30
        recorder = Recorder()
        ExpiryCloser(recorder, slot_seconds=30, clock=lambda at=closed_at: at).close_ended()
        assert f"expiry-{slot}" in recorder.channels


async def test_closer_runs_at_each_boundary() -> None:
    recorder = Recorder()
    closer = ExpiryCloser(recorder, slot_seconds=1, delay=0.01)
    closer.start()
    await asyncio.sleep(2.2)
    await closer.stop()
    assert len(recorder.channels) >= 2
    assert all(c.startswith("expiry-") for c in recorder.channels)


async def test_publisher_sends_an_http_stream_close() -> None:
    bodies: list[bytes] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return httpx.Response(200)

    publisher = GripPublisher(
        [parse_grip_url(f"http://127.0.0.1:5561?iss=pushpin&key={KEY}")],
        transport=httpx.MockTransport(handle),
    )
    await publisher.start()
    publisher.publish_close("expiry-42")
    await publisher.close()
    items = [item for body in bodies for item in json.loads(body)["items"]]
    assert items == [{"channel": "expiry-42", "http-stream": {"action": "close"}}]
