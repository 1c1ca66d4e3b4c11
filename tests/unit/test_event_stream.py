"""EventStream's ASGI body loop: chunks out, a client that leaves closes the iterator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.response.streaming import ASGIStreamingResponse

from flychat.entrypoints.event_stream import (
    HANDOFF,
    StreamHandoff,
    _ASGIEventStream,
    send_stream,
)


def response(iterator: AsyncIterator[bytes]) -> ASGIStreamingResponse:
    plain = ASGIStreamingResponse(iterator=iterator, media_type="text/event-stream")
    plain.__class__ = _ASGIEventStream
    return plain


async def test_chunks_are_sent_then_the_body_ends() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    sent: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def send(message: Any) -> None:
        sent.append(message)
        if not message["more_body"]:
            done.set()

    async def receive() -> Any:
        await done.wait()
        return {"type": "http.disconnect"}

    await asyncio.wait_for(response(chunks()).send_body(send, receive), 2)
    assert [(m["body"], m["more_body"]) for m in sent] == [(b"a", True), (b"b", True), (b"", False)]


class LeavingClient:
    """An endless stream whose client leaves once the first chunk was sent."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self._sent = asyncio.Event()

    async def forever(self) -> AsyncIterator[bytes]:
        try:
            yield b"open"
            await asyncio.sleep(3600)
        finally:
            self.closed.set()

    async def send(self, message: Any) -> None:
        self._sent.set()

    async def receive(self) -> Any:
        await self._sent.wait()
        return {"type": "http.disconnect"}


async def test_a_client_that_leaves_closes_the_iterator() -> None:
    client = LeavingClient()
    closed = client.closed

    await asyncio.wait_for(response(client.forever()).send_body(client.send, client.receive), 2)
    assert closed.is_set()


async def test_a_handed_off_stream_is_sent_once_the_app_has_returned() -> None:
    returned: list[bool] = []
    seen: list[bool] = []

    async def chunks() -> AsyncIterator[bytes]:
        seen.append(bool(returned))
        yield b"a"
        yield b"b"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await response(chunks())(scope, receive, send)
        returned.append(True)

    sent: list[dict[str, Any]] = []
    done = asyncio.Event()

    async def send(message: Any) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message["more_body"]:
            done.set()

    async def receive() -> Any:
        await done.wait()
        return {"type": "http.disconnect"}

    scope: dict[str, Any] = {"type": "http", "method": "GET", "state": {}}
    await asyncio.wait_for(StreamHandoff(app)(scope, receive, send), 2)
    assert seen == [True]
    assert [m["type"] for m in sent] == ["http.response.start"] + ["http.response.body"] * 3
    assert [m["body"] for m in sent[1:]] == [b"a", b"b", b""]
    assert HANDOFF not in scope


async def test_a_client_that_leaves_ends_the_stream_and_its_task_goes_on() -> None:
    client = LeavingClient()
    closed = client.closed

    async def request() -> str:
        await send_stream(client.forever(), client.send, client.receive)
        await asyncio.sleep(0.01)
        return "went on"

    assert await asyncio.wait_for(request(), 2) == "went on"
    assert closed.is_set()


async def test_a_stream_cancelled_from_elsewhere_stays_cancelled() -> None:
    async def forever() -> AsyncIterator[bytes]:
        yield b"open"
        await asyncio.sleep(3600)

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    task = asyncio.create_task(send_stream(forever(), send, receive))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
