"""A lean streaming response for SSE: one helper task per stream, no task group.

Litestar's ``Stream`` runs each body inside an anyio task group (two tasks and a
cancel scope per stream) and re-checks every chunk's type. ``EventStream`` sends
the chunks of an async iterator of bytes from one task of its own while the
request's task waits for ``http.disconnect``, which ASGI servers also send once the
response is complete; a client that goes away cancels the pump, which closes the
iterator (so its ``finally`` blocks run).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse, Stream
from litestar.types import Receive, Send


class _ASGIEventStream(ASGIStreamingResponse):
    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        pump = asyncio.get_running_loop().create_task(self._pump(send))
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            if not pump.done():
                pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump(self, send: Send) -> None:
        iterator: Any = self.iterator
        try:
            async for chunk in iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            with contextlib.suppress(Exception):
                await iterator.aclose()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})


class EventStream(Stream):
    """A streaming response over an async iterator of ``bytes`` chunks."""

    def __init__(self, content: AsyncIterator[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        """The ASGI response Litestar builds for a Stream, with the lean body loop."""
        base = super().to_asgi_response(*args, **kwargs)
        base.__class__ = _ASGIEventStream
        return base
