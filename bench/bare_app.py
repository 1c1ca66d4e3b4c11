"""The framework's ceiling: a bare Litestar endpoint that parses the form, answers JSON.

It decodes the body the way flychat does (UTF-8, ``parse_qsl``), stores nothing,
and is served exactly like ``flychat serve``: one uvicorn process, same options,
log level from ``BENCH_LOG_LEVEL``. ``GET`` with ``Accept: text/event-stream`` is
the fan-out ceiling: a Litestar ``Stream`` per subscriber fed by an
``asyncio.Queue``; each POST numbers the message per room, encodes its SSE event
once and puts it in every queue of the room (no provisional event, no storage).

    python -m bench.bare_app --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from litestar import Litestar, Request, get, post
from litestar.response import Response, Stream

LAST_IDS: dict[str, int] = {}
SUBSCRIBERS: dict[str, set[asyncio.Queue[bytes]]] = {}


@post("/rooms/{room:str}/messages", status_code=200)
async def send_message(request: Request[Any, Any, Any], room: str) -> dict[str, Any]:
    """Parse the form body and echo it as a message-shaped JSON object."""
    body = await request.body()
    fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    message_id = LAST_IDS[room] = LAST_IDS.get(room, 0) + 1
    message = {
        "id": message_id,
        "provisionalId": fields.get("provisionalId"),
        "from": fields.get("from"),
        "text": fields.get("text"),
        "date": "2026-01-01T00:00:00.000Z",
    }
    if queues := SUBSCRIBERS.get(room):
        event = f"event: message\nid: {message_id}\ndata: {json.dumps(message)}\n\n".encode()
        for queue in queues:
            queue.put_nowait(event)
    return message


async def _events(room: str, queue: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
    try:
        yield b"event: stream-open\ndata: {}\n\n"
        while True:
            yield await queue.get()
    finally:
        SUBSCRIBERS[room].discard(queue)


@get("/rooms/{room:str}/messages")
async def stream(room: str) -> Response[Any]:
    """The room's SSE stream: stream-open, then every message posted from now on."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    SUBSCRIBERS.setdefault(room, set()).add(queue)
    return Stream(_events(room, queue), media_type="text/event-stream")


@get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


def create_app() -> Litestar:
    """The bare app."""
    return Litestar(route_handlers=[send_message, stream, healthz], request_max_body_size=65536)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    config = uvicorn.Config(
        create_app(),
        host=args.host,
        port=args.port,
        log_level=os.environ.get("BENCH_LOG_LEVEL", "info"),
        timeout_graceful_shutdown=8,
        lifespan="on",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
