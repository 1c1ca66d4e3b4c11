"""Request ids and the access log: one pure-ASGI wrapper around the whole app."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from flychat.entrypoints.logs import ACCESS, REQUEST_ID, access_lines

HEADER = b"x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-ID`` when it is 1-128 of ``A-Za-z0-9._-``, else a new one."""
    for name, value in headers:
        if name == HEADER:
            claimed = value.decode("latin-1")
            if _VALID_ID.fullmatch(claimed):
                return claimed
            break
    return uuid.uuid4().hex


def _log_access(scope: HTTPScope, path: str, status: int, seconds: float) -> None:
    client = scope.get("client")
    peer = f"{client[0]}:{client[1]}" if client else "-"
    method, ms = scope["method"], round(seconds * 1000, 3)
    fast = access_lines()
    if fast is not None:
        fast.write(peer, method, path, status, ms, REQUEST_ID.get())
        return
    ACCESS.info(
        '%s "%s %s" %d %.1fms',
        peer,
        method,
        path,
        status,
        ms,
        extra={"method": method, "path": path, "status": status, "duration_ms": ms},
    )


class RequestContext:
    """Gives each HTTP request its id (context and ``X-Request-ID``), logs one access line.

    The access line is written when the response has ended (for a stream: when it
    closes); with INFO disabled on ``flychat.access`` it costs one level check.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with the request id set; add the header to the response."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        request_id = request_id_of(scope["headers"])
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode())
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if ACCESS.isEnabledFor(logging.INFO):
                _log_access(scope, path, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)
