"""A lean streaming response for SSE, run outside the framework's call stack.

Litestar's ``Stream`` runs each body inside an anyio task group (two tasks and a
cancel scope per stream) and re-checks every chunk's type; and whatever sends the
body keeps every frame above it alive (middleware closures, the ``Request``, its
parsed headers) for as long as the stream is open. ``EventStream`` sends the
response start through the framework, then hands its iterator to
``StreamHandoff``, an ASGI wrapper outside the framework, which sends the chunks
once the framework's stack has returned. Without a ``StreamHandoff`` around the
app, the response sends the chunks itself.

Chunks are sent from the request's own task; ``http.disconnect`` is awaited by
stepping ``receive()`` from future callbacks (no second task per stream), and a
client that goes away cancels the sending, which closes the iterator (so its
``finally`` blocks run).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse, Stream
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import CONNECTION_STATE_KEY

HANDOFF = "flychat.stream_handoff"


class Handoff:
    """What an ``EventStream`` hands to ``StreamHandoff``: its chunks."""

    __slots__ = ("iterator",)

    def __init__(self) -> None:
        self.iterator: AsyncIterator[bytes] | None = None


async def send_stream(iterator: AsyncIterator[bytes], send: Send, receive: Receive) -> None:
    """Send ``iterator``'s chunks as the response body until it ends or the client leaves.

    The chunks are sent from the calling task; a client that leaves cancels it
    (the cancellation ends here), which closes the iterator.
    """
    task = asyncio.current_task()
    assert task is not None
    departure = _Departure(receive, task.cancel)
    try:
        try:
            async for chunk in iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            departure.close()
            with contextlib.suppress(Exception):
                await iterator.aclose()  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        if departure.left:
            await asyncio.sleep(0)
    except asyncio.CancelledError:
        if not departure.left or task.uncancel() > 0:
            raise


class _Departure:
    """Calls ``leave`` once ``receive`` says ``http.disconnect``, with no task of its own.

    ``receive()`` is stepped by hand from the callbacks of the futures it waits on,
    as a task would step it, so a stream costs one task, not two.
    """

    __slots__ = ("_closed", "_leave", "_receive", "_waiting", "left")

    def __init__(self, receive: Receive, leave: Callable[[], object]) -> None:
        self._receive = receive
        self._leave = leave
        self._waiting: Any = None
        self._closed = False
        self.left = False
        self._step()

    def _step(self, _: object = None) -> None:
        while not self._closed:
            if self._waiting is None:
                self._waiting = self._receive().__await__()
            try:
                awaited = self._waiting.send(None)
            except StopIteration as done:
                self._waiting = None
                if done.value["type"] == "http.disconnect":
                    return self._depart()
                continue
            except (Exception, asyncio.CancelledError):
                self._waiting = None
                return self._depart()
            if awaited is None:
                asyncio.get_running_loop().call_soon(self._step)
            else:
                awaited._asyncio_future_blocking = False
                awaited.add_done_callback(self._step)
            return

    def _depart(self) -> None:
        self._closed = self.left = True
        self._leave()

    def close(self) -> None:
        """Stop watching (the stream has ended)."""
        self._closed = True
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            waiting.close()


class _ASGIEventStream(ASGIStreamingResponse):
    __slots__ = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.start_response(send=send)
        handoff: Handoff | None = scope.get(HANDOFF)  # type: ignore[assignment]
        if self.is_head_response:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif handoff is not None:
            handoff.iterator = self.iterator  # type: ignore[assignment]
        else:
            await self.send_body(send, receive)
        await self.after_response()

    async def send_body(self, send: Send, receive: Receive) -> None:
        await send_stream(self.iterator, send, receive)  # type: ignore[arg-type]


class EventStream(Stream):
    """A streaming response over an async iterator of ``bytes`` chunks."""

    def __init__(self, content: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        """The ASGI response Litestar builds for a Stream, with the lean body loop."""
        base = super().to_asgi_response(*args, **kwargs)
        base.__class__ = _ASGIEventStream
        return base


class StreamHandoff:
    """Runs the ``EventStream`` bodies of ``app`` once ``app`` has returned (GET only).

    What the framework held for the request (frames, closures, the parsed request)
    is released while the stream stays open; the response start has gone through
    the framework as usual. Wrappers outside this one (the request context, the
    request metrics) see the request end when the stream ends.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Call the app; then send the body of the stream it handed over, if any."""
        if scope["type"] != ScopeType.HTTP or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        handoff = Handoff()
        scope[HANDOFF] = handoff  # type: ignore[literal-required]
        try:
            await self.app(scope, receive, send)
        finally:
            del scope[HANDOFF]  # type: ignore[misc]
        iterator = handoff.iterator
        if iterator is None:
            return
        handoff.iterator = None
        scope.get("state", {}).pop(CONNECTION_STATE_KEY, None)
        await send_stream(iterator, send, receive)
