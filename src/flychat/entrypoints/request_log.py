"""Request ids, the access log and request metrics: one pure-ASGI wrapper around the app."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from flychat.domain.metrics import RequestMetrics
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
    return f"{random.getrandbits(128):032x}"


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
    """Gives each HTTP request its id (context and ``X-Request-ID``), logs one access line,
    and reports it to the request metrics under its route template.

    The access line is written when the response has ended (for a stream: when it
    closes); with INFO disabled on ``flychat.access`` it costs one level check.
    Requests that match no route are not in the metrics (their path is not a template).
    """

    def __init__(self, app: ASGIApp, metrics: RequestMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with the request id set; add the header to the response."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        request_id = request_id_of(scope["headers"])
        token = REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode())
        metrics = self.metrics
        started = time.perf_counter()
        span = [500, 0.0, False]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                span[0] = status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
                if metrics is not None and (template := scope.get("path_template")):
                    span[2] = True
                    metrics.responding(scope["method"], template, status)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                span[1] = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            status = int(span[0])
            seconds = (span[1] or time.perf_counter()) - started
            if metrics is not None and (template := scope.get("path_template")):
                metrics.finished(scope["method"], template, status, seconds, bool(span[2]))
            if ACCESS.isEnabledFor(logging.INFO):
                _log_access(scope, path, status, seconds)
            REQUEST_ID.reset(token)
