"""The GRIP branch of the stream route, over HTTP, with Grip-Sig made by the test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest

from flychat.config import Settings
from flychat.entrypoints.app import create_app
from tests.support.servers import app_in_thread
from tests.support.sse import parse_all

KEY = "grip-e2e-signing-key-0123456789abcdef"
UNREACHABLE_PROXY = f"http://127.0.0.1:9?iss=pushpin&key={KEY}"
SSE = {"Accept": "text/event-stream"}


def grip_sig(key: str = KEY, exp_in: int = 60) -> dict[str, str]:
    claims = {"iss": "pushpin", "exp": int(time.time()) + exp_in}
    return {"Grip-Sig": jwt.encode(claims, key, algorithm="HS256")}


def settings(**kw: object) -> Settings:
    return Settings(
        database_url="memory://",
        grip_urls=(UNREACHABLE_PROXY,),
        grip_prefix="t-",
        history_size=3,
        max_replay=5,
        keepalive_seconds=7,
        link_timeout_seconds=9,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with app_in_thread(create_app(settings())) as url:
        yield url


async def fill(client: httpx.AsyncClient, room: str, n: int) -> None:
    for i in range(n):
        response = await client.post(f"/rooms/{room}/messages/", data={"from": "a", "text": f"{i}"})
        assert response.status_code == 200


def grip_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("grip-")}


async def test_signed_stream_request_gets_history_and_hold_instructions(
    client: httpx.AsyncClient, room: str
) -> None:
    await fill(client, room, 4)
    response = await client.get(f"/rooms/{room}/messages/", headers={**SSE, **grip_sig()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert grip_headers(response) == {
        "grip-hold": "stream",
        "grip-channel": f"t-messages-{room}; prev-id=4, t-provisional-{room}",
        "grip-keep-alive": ": keep-alive\\n\\n; format=cstring; timeout=7",
        "grip-link": f"</rooms/{room}/messages/?recover=true>; rel=next; timeout=9",
    }
    assert response.text.startswith("retry: 1000\n\nevent: stream-open\n")
    events = parse_all(response.text)
    assert [e.event for e in events] == ["stream-open", "message", "message", "message"]
    assert [e.id for e in events[1:]] == ["2", "3", "4"]


async def test_signed_stream_resumes_from_last_event_id(
    client: httpx.AsyncClient, room: str
) -> None:
    await fill(client, room, 4)
    headers = {**SSE, **grip_sig(), "Last-Event-ID": "1"}
    response = await client.get(f"/rooms/{room}/messages/?lastEventId=3", headers=headers)
    assert [e.id for e in parse_all(response.text)] == [None, "2", "3", "4"]
    assert "prev-id=4," in response.headers["grip-channel"]


async def test_empty_room_holds_with_prev_id_zero(client: httpx.AsyncClient, room: str) -> None:
    response = await client.get(f"/rooms/{room}/messages/", headers={**SSE, **grip_sig()})
    assert [e.event for e in parse_all(response.text)] == ["stream-open"]
    assert response.headers["grip-channel"].startswith(f"t-messages-{room}; prev-id=0,")


@pytest.mark.parametrize("path", ["?recover=true", "", "?recover=true&user=x"])
async def test_recovery_answers_the_missing_messages_whatever_accept_says(
    client: httpx.AsyncClient, room: str, path: str
) -> None:
    await fill(client, room, 5)
    headers = {
        "Accept": "*/*",
        "Grip-Last": f"t-messages-{room}; last-id=2",
        **grip_sig(),
    }
    response = await client.get(f"/rooms/{room}/messages/{path}", headers=headers)
    assert response.status_code == 200
    events = parse_all(response.text)
    assert [(e.event, e.id) for e in events] == [
        ("message", "3"),
        ("message", "4"),
        ("message", "5"),
    ]
    assert response.headers["grip-hold"] == "stream"
    assert response.headers["grip-channel"] == f"t-messages-{room}; prev-id=5, t-provisional-{room}"


async def test_recovery_when_nothing_is_missing(client: httpx.AsyncClient, room: str) -> None:
    await fill(client, room, 2)
    headers = {"Grip-Last": f"t-messages-{room}; last-id=2", **grip_sig()}
    response = await client.get(f"/rooms/{room}/messages/?recover=true", headers=headers)
    assert response.status_code == 200 and response.text == ""
    assert "prev-id=2," in response.headers["grip-channel"]


@pytest.mark.parametrize("last", ["last-id=99", "last-id=0", "last-id=junk"])
async def test_recovery_resets_when_it_cannot_honour_the_position(
    client: httpx.AsyncClient, room: str, last: str
) -> None:
    await fill(client, room, 8)
    headers = {"Grip-Last": f"t-messages-{room}; {last}", **grip_sig()}
    response = await client.get(f"/rooms/{room}/messages/?recover=true", headers=headers)
    events = parse_all(response.text)
    assert [(e.event, e.id) for e in events] == [
        ("stream-reset", "8"),
        ("message", "6"),
        ("message", "7"),
        ("message", "8"),
    ]
    assert events[0].json() == {"lastEventId": 8}
    assert "prev-id=8," in response.headers["grip-channel"]


FORGED = {
    "wrong key": lambda: grip_sig("a different key, just as long as ours!"),
    "expired": lambda: grip_sig(exp_in=-10),
    "garbage": lambda: {"Grip-Sig": "x"},
    "absent": lambda: {},
}


@pytest.mark.parametrize("kind", FORGED)
async def test_forged_or_missing_sig_gets_no_grip_instructions(
    client: httpx.AsyncClient, room: str, kind: str
) -> None:
    sig = FORGED[kind]()
    await fill(client, room, 2)
    headers = {"Accept": "application/json", "Grip-Last": f"t-messages-{room}; last-id=0", **sig}
    response = await client.get(f"/rooms/{room}/messages/?recover=true", headers=headers)
    assert response.status_code == 200 and not grip_headers(response)
    assert response.json()["lastEventId"] == 2
    stream_headers = {**SSE, "Grip-Last": f"t-messages-{room}; last-id=0", **sig}
    async with client.stream("GET", f"/rooms/{room}/messages/", headers=stream_headers) as stream:
        assert stream.status_code == 200 and not grip_headers(stream)
        first = await anext(stream.aiter_bytes())
        assert first.startswith(b"retry: 1000\n\nevent: stream-open")


async def test_signed_json_request_is_plain_json(client: httpx.AsyncClient, room: str) -> None:
    await fill(client, room, 1)
    response = await client.get(f"/rooms/{room}/messages/", headers=grip_sig())
    assert response.json()["lastEventId"] == 1 and not grip_headers(response)


async def test_posts_succeed_while_the_proxy_is_unreachable(
    client: httpx.AsyncClient, room: str
) -> None:
    response = await client.post(f"/rooms/{room}/messages/", data={"from": "a", "text": "hi"})
    assert response.status_code == 200 and response.json()["id"] == 1


def test_direct_streaming_off_refuses_unsigned_streams_only() -> None:
    app = create_app(settings(direct_streaming=False))
    with app_in_thread(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        refused = http.get("/rooms/r/messages/", headers=SSE)
        assert refused.status_code == 503
        assert "FLYCHAT_DIRECT_STREAMING" in refused.json()["error"]
        assert http.get("/rooms/r/messages/", headers={**SSE, **grip_sig()}).status_code == 200
        assert http.get("/rooms/r/messages/").status_code == 200


def test_the_opening_answer_carries_the_configured_retry() -> None:
    with (
        app_in_thread(create_app(settings(sse_retry_ms=2500))) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        opening = http.get("/rooms/r/messages/", headers={**SSE, **grip_sig()})
        assert opening.text.startswith("retry: 2500\n\nevent: stream-open\n")
        http.post("/rooms/r/messages/", data={"from": "a", "text": "hi"})
        recovery = http.get(
            "/rooms/r/messages/?recover=true",
            headers={"Grip-Last": "t-messages-r; last-id=0", **grip_sig()},
        )
        assert recovery.text.startswith("event: message\nid: 1\n")
