"""X-Request-ID over real HTTP: kept when valid, replaced otherwise, on every kind of response."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar

from flychat.adapters.memory import InMemoryMessageLog
from flychat.config import Settings
from flychat.entrypoints.app import create_app
from flychat.entrypoints.logs import JsonLines, RequestIdFilter
from tests.e2e.streams import open_stream
from tests.support.servers import app_in_thread

NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def app() -> Litestar:
    return create_app(Settings(database_url="memory://", keepalive_seconds=0.3))


@pytest.fixture(scope="module")
def base_url(app: Litestar) -> Iterator[str]:
    with app_in_thread(app) as url:
        yield url


@pytest.mark.parametrize("claimed", ["abc.DEF-1_2", "x", "7" * 128, "a.b.c-d_e"])
async def test_a_valid_client_id_is_kept(client: httpx.AsyncClient, claimed: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": claimed})
    assert response.headers["x-request-id"] == claimed


@pytest.mark.parametrize(
    "claimed", ["7" * 129, "has space", "semi;colon", "slash/y", "ü".encode(), ""]
)
async def test_an_invalid_client_id_is_replaced(
    client: httpx.AsyncClient, claimed: str | bytes
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": claimed})
    assert NEW_ID.fullmatch(response.headers["x-request-id"])


async def test_each_request_without_one_gets_its_own(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5 and all(NEW_ID.fullmatch(i) for i in ids)


async def test_every_kind_of_response_carries_it(client: httpx.AsyncClient, room: str) -> None:
    answers = {
        "404 unrouted": await client.get("/no/such/path/here"),
        "400 reserved room": await client.get("/rooms/metrics/messages/"),
        "400": await client.post(f"/rooms/{room}/messages/", data={"from": "a"}),
        "405": await client.delete(f"/rooms/{room}/messages/"),
        "415": await client.post(f"/rooms/{room}/messages/", content=b"x"),
        "static": await client.get("/static/common.js"),
        "page": await client.get(f"/{room}"),
        "metrics": await client.get("/metrics"),
    }
    assert {k: r.status_code for k, r in answers.items()} == {
        "404 unrouted": 404,
        "400 reserved room": 400,
        "400": 400,
        "405": 405,
        "415": 415,
        "static": 200,
        "page": 200,
        "metrics": 200,
    }
    assert [k for k, r in answers.items() if not NEW_ID.fullmatch(r.headers["x-request-id"])] == []


async def test_an_sse_stream_carries_it(client: httpx.AsyncClient, room: str) -> None:
    async with client.stream(
        "GET",
        f"/rooms/{room}/messages/",
        headers={"Accept": "text/event-stream", "X-Request-ID": "stream-42"},
    ) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["x-request-id"] == "stream-42"
    async with open_stream(client, room) as stream:
        assert NEW_ID.fullmatch(stream.response.headers["x-request-id"])


async def test_log_lines_during_a_request_carry_its_id(
    app: Litestar, client: httpx.AsyncClient, room: str
) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonLines())
    logger = logging.getLogger("flychat")
    logger.addHandler(handler)
    log = app.state.services.chat.log
    assert isinstance(log, InMemoryMessageLog)
    log.available = False
    try:
        response = await client.post(
            f"/rooms/{room}/messages/",
            data={"from": "a", "text": "x"},
            headers={"X-Request-ID": "warn-me-1"},
        )
    finally:
        log.available = True
        logger.removeHandler(handler)
    assert response.status_code == 503
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    warnings = [line for line in lines if line["level"] == "WARNING"]
    assert warnings and all(line["request_id"] == "warn-me-1" for line in warnings)
    assert "storage unavailable" in warnings[0]["message"]
