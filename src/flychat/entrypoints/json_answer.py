"""A 200 JSON answer whose body is already encoded: two ASGI messages, nothing else."""

from __future__ import annotations

from litestar.types import Receive, Scope, Send

_JSON = (b"content-type", b"application/json")


class JsonAnswer:
    """An ASGI app that answers 200 with ``body`` (UTF-8 JSON) as it is."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the status line, the two headers and the body."""
        body = self.body
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [_JSON, (b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
