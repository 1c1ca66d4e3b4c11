"""The framework's ceiling: a bare Litestar endpoint that parses the form, answers JSON.

It decodes the body the way flychat does (UTF-8, ``parse_qsl``), stores nothing,
publishes nothing, and is served exactly like ``flychat serve``: one uvicorn
process, same options, log level from ``BENCH_LOG_LEVEL``.

    python -m bench.bare_app --port 8001
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from litestar import Litestar, Request, get, post


@post("/rooms/{room:str}/messages", status_code=200)
async def send_message(request: Request[Any, Any, Any], room: str) -> dict[str, Any]:
    """Parse the form body and echo it as a message-shaped JSON object."""
    body = await request.body()
    fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return {
        "id": 1,
        "provisionalId": fields.get("provisionalId"),
        "from": fields.get("from"),
        "text": fields.get("text"),
        "date": "2026-01-01T00:00:00.000Z",
    }


@get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


def create_app() -> Litestar:
    """The bare app."""
    return Litestar(route_handlers=[send_message, healthz], request_max_body_size=65536)


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
