"""The GRIP publisher against a fake proxy: batching, order, auth, failures, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
import zmq

from flychat.adapters.grip.proxy import parse_grip_url
from flychat.adapters.grip.publisher import GripPublisher
from flychat.domain.model import Draft, Message, RoomId

ROOM = RoomId("lobby")
DATE = datetime(2026, 11, 27, 21, 0, 0, 123000, tzinfo=UTC)
KEY = "a-pushpin-signing-key-of-32-bytes!"


def message(n: int) -> Message:
    return Message(n, f"pid-{n:08d}", "alice", f"text {n}", DATE)


class FakeProxy:
    """Records every publish request; can be slowed down or made to fail."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.delay = delay

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        return httpx.Response(self.status)

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for r in self.requests for item in json.loads(r.content)["items"]]


class Proxies(httpx.AsyncBaseTransport):
    """Routes each request to the fake proxy listening on its port; others refuse."""

    def __init__(self, by_port: dict[int, FakeProxy]) -> None:
        self.by_port = by_port

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self.by_port.get(request.url.port or 0)
        if proxy is None:
            raise httpx.ConnectError("connection refused", request=request)
        return await proxy.handle(request)


def publisher_for(by_port: dict[int, FakeProxy], ports: list[int], **kw: Any) -> GripPublisher:
    proxies = [parse_grip_url(f"http://127.0.0.1:{p}?iss=pushpin&key={KEY}") for p in ports]
    return GripPublisher(proxies, "fc-", transport=Proxies(by_port), **kw)


async def test_items_on_the_wire() -> None:
    proxy = FakeProxy()
    publisher = publisher_for({5561: proxy}, [5561])
    await publisher.start()
    publisher.publish_provisional(ROOM, Draft("pid-00000001", "alice", "hi", DATE))
    publisher.publish_message(ROOM, message(1))
    publisher.publish_retraction(ROOM, "pid-00000002")
    await publisher.close()
    provisional, durable, retraction = proxy.items
    assert provisional == {
        "channel": "fc-provisional-lobby",
        "http-stream": {
            "content": 'event: message\ndata: {"provisionalId":"pid-00000001","from":"alice",'
            '"text":"hi","date":"2026-11-27T21:00:00.123Z"}\n\n'
        },
    }
    assert durable["channel"] == "fc-messages-lobby"
    assert (durable["id"], durable["prev-id"]) == ("1", "0")
    assert durable["http-stream"]["content"].startswith("event: message\nid: 1\ndata: {")
    assert retraction["channel"] == "fc-provisional-lobby" and "id" not in retraction
    assert '"retracted":true' in retraction["http-stream"]["content"]
    auth = proxy.requests[0].headers["authorization"].removeprefix("Bearer ")
    assert jwt.decode(auth, KEY, algorithms=["HS256"])["iss"] == "pushpin"
    assert proxy.requests[0].url.path == "/publish/"


async def test_pending_items_go_in_one_request_in_order() -> None:
    proxy = FakeProxy(delay=0.05)
    publisher = publisher_for({5561: proxy}, [5561])
    await publisher.start()
    publisher.publish_message(ROOM, message(1))
    await asyncio.sleep(0.01)
    for n in range(2, 202):
        publisher.publish_message(ROOM, message(n))
    await publisher.close()
    assert len(proxy.requests) == 2
    assert [int(item["id"]) for item in proxy.items] == list(range(1, 202))


async def test_batches_split_by_size() -> None:
    proxy = FakeProxy()
    publisher = publisher_for({5561: proxy}, [5561], max_batch_bytes=2000)
    for n in range(1, 51):
        publisher.publish_message(ROOM, message(n))
    await publisher.start()
    await publisher.close()
    assert all(len(r.content) < 2100 for r in proxy.requests)
    assert len(proxy.requests) > 1
    assert [int(item["id"]) for item in proxy.items] == list(range(1, 51))


async def test_batch_size_counts_bytes_not_characters() -> None:
    proxy = FakeProxy()
    publisher = publisher_for({5561: proxy}, [5561], max_batch_bytes=4000)
    for n in range(1, 21):
        publisher.publish_message(ROOM, Message(n, f"pid-{n:08d}", "a", "聊天" * 300, DATE))
    await publisher.start()
    await publisher.close()
    assert all(len(r.content) < 4100 for r in proxy.requests)
    assert [int(item["id"]) for item in proxy.items] == list(range(1, 21))
    assert proxy.items[0]["http-stream"]["content"].count("聊天") == 300


async def test_publish_returns_at_once_while_the_proxy_is_slow() -> None:
    proxy = FakeProxy(delay=0.5)
    publisher = publisher_for({5561: proxy}, [5561])
    await publisher.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(1, 1001):
        publisher.publish_message(ROOM, message(n))
    assert loop.time() - started < 0.2
    await publisher.close()
    assert len(proxy.items) == 1000


async def test_every_proxy_gets_every_item_and_a_dead_one_delays_no_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alive, failing = FakeProxy(), FakeProxy(status=500)
    publisher = publisher_for({5561: alive, 5571: failing}, [5561, 5571, 5581])
    await publisher.start()
    with caplog.at_level(logging.WARNING):
        for n in range(1, 4):
            publisher.publish_message(ROOM, message(n))
            await asyncio.sleep(0.01)
        await publisher.close()
    assert [item["id"] for item in alive.items] == ["1", "2", "3"]
    assert [item["id"] for item in failing.items] == ["1", "2", "3"]
    assert publisher.items_sent == 3 and publisher.items_failed == 6
    assert "127.0.0.1:5581" in caplog.text and "500" in caplog.text
    assert KEY not in caplog.text


async def test_close_is_bounded_when_the_proxy_hangs() -> None:
    proxy = FakeProxy(delay=30)
    publisher = publisher_for({5561: proxy}, [5561])
    await publisher.start()
    publisher.publish_message(ROOM, message(1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await publisher.close(grace=0.2)
    assert loop.time() - started < 1
    publisher.publish_message(ROOM, message(2))


async def test_a_full_queue_drops_the_oldest() -> None:
    proxy = FakeProxy()
    publisher = publisher_for({5561: proxy}, [5561], max_pending=10)
    for n in range(1, 26):
        publisher.publish_message(ROOM, message(n))
    await publisher.start()
    await publisher.close()
    assert [int(item["id"]) for item in proxy.items] == list(range(16, 26))


class PullSocket:
    """A bound ZeroMQ PULL socket standing in for Pushpin's ``push_in_spec``."""

    def __init__(self) -> None:
        self.context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.socket = self.context.socket(zmq.PULL)
        port = self.socket.bind_to_random_port("tcp://127.0.0.1")
        self.uri = f"tcp://127.0.0.1:{port}"

    def receive(self, count: int, timeout: float = 5.0) -> list[bytes]:
        received = []
        while len(received) < count and self.socket.poll(int(timeout * 1000)):
            received.append(self.socket.recv())
        return received

    def close(self) -> None:
        self.socket.close(linger=0)
        self.context.term()


def zmq_publisher(uri: str, **kw: Any) -> GripPublisher:
    proxy = parse_grip_url(f"http://127.0.0.1:1?iss=pushpin&key={KEY}&zmq={uri}")
    return GripPublisher([proxy], "fc-", **kw)


async def test_zmq_items_are_j_prefixed_json_one_per_message_in_order() -> None:
    pull = PullSocket()
    try:
        publisher = zmq_publisher(pull.uri)
        publisher.publish_message(ROOM, message(1))
        await publisher.start()
        publisher.publish_provisional(ROOM, Draft("pid-00000002", "alice", "hi", DATE))
        for n in range(2, 102):
            publisher.publish_message(ROOM, message(n))
        publisher.publish_retraction(ROOM, "pid-00000103")
        raw = await asyncio.to_thread(pull.receive, 103)
        await publisher.close()
    finally:
        pull.close()
    assert all(frame.startswith(b"J") for frame in raw)
    items = [json.loads(frame[1:]) for frame in raw]
    assert [item.get("id") for item in items if item["channel"] == "fc-messages-lobby"] == [
        str(n) for n in range(1, 102)
    ]
    assert items[1]["channel"] == "fc-provisional-lobby" and "id" not in items[1]
    assert items[1]["http-stream"]["content"].startswith('event: message\ndata: {"provisionalId"')
    assert items[-1]["channel"] == "fc-provisional-lobby"
    assert (items[2]["id"], items[2]["prev-id"]) == ("2", "1")
    assert publisher.items_sent == 103 and publisher.requests_sent == 0


async def test_zmq_publishes_never_block_and_overflow_is_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody = f"tcp://127.0.0.1:{free_port()}"
    publisher = zmq_publisher(nobody, max_pending=10)
    await publisher.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with caplog.at_level(logging.WARNING):
        for n in range(1, 2001):
            publisher.publish_message(ROOM, message(n))
    assert loop.time() - started < 0.5
    assert publisher.items_failed > 0
    assert publisher.items_sent + publisher.items_failed == 2000
    assert caplog.text.count("queue full") == 1
    started = loop.time()
    await publisher.close(grace=0.2)
    assert loop.time() - started < 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
