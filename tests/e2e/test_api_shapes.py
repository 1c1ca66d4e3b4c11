"""Real answers, from every store, decode into the shapes the OpenAPI document publishes."""

from __future__ import annotations

from typing import TypeVar

import httpx
import msgspec

from flychat.entrypoints.openapi.shapes import (
    Error,
    FieldError,
    Health,
    HistoryPage,
    Message,
    PresenceList,
    Ready,
)

T = TypeVar("T")
JSON = {"content-type": "application/json"}


def shaped(response: httpx.Response, shape: type[T], status: int) -> T:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return msgspec.json.decode(response.content, type=shape)


async def test_message_and_history_page(client: httpx.AsyncClient, room: str) -> None:
    path = f"/rooms/{room}/messages/"
    posted = shaped(await client.post(path, json={"from": " a ", "text": "x\r\ny"}), Message, 200)
    page = shaped(await client.get(path), HistoryPage, 200)
    assert page.messages == [posted] and page.last_event_id == posted.id == 1
    assert shaped(await client.get(path, params={"before": 1}), HistoryPage, 200).messages == []


async def test_error_bodies(client: httpx.AsyncClient, room: str) -> None:
    path = f"/rooms/{room}/messages/"
    field = shaped(await client.post(path, data={"from": "a"}), FieldError, 400)
    assert field.field == "text"
    assert shaped(await client.get(path, params={"limit": "0"}), FieldError, 400).field == "limit"
    assert shaped(await client.get("/rooms/schema/messages/"), FieldError, 400).field == "room"
    shaped(
        await client.post(path, content=b"{", headers={"content-type": "application/json"}),
        Error,
        400,
    )
    shaped(
        await client.post(path, content=b"x", headers={"content-type": "text/plain"}), Error, 415
    )
    big = b"x" * 70_000
    shaped(
        await client.post(path, content=big, headers={"content-type": "application/json"}),
        Error,
        413,
    )
    shaped(await client.get("/rooms/a%2Fb/messages/"), Error, 404)


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert shaped(await client.get("/healthz"), Health, 200).status == "ok"
    assert shaped(await client.get("/readyz"), Ready, 200).status == "ready"


async def test_typing_and_presence_answers(client: httpx.AsyncClient, room: str) -> None:
    typed = await client.post(f"/rooms/{room}/typing", data={"from": "a", "typing": " On"})
    assert typed.status_code == 204 and typed.content == b""
    path = f"/rooms/{room}/presence"
    beat = shaped(await client.post(path, json={"from": " bob ", "leave": None}), PresenceList, 200)
    shaped(await client.post(path, files={"from": (None, "al")}), PresenceList, 200)
    listed = shaped(await client.get(path), PresenceList, 200)
    assert [m.sender for m in beat.members] == ["bob"] and beat.count == 1
    assert [m.sender for m in listed.members] == ["al", "bob"] and listed.count == 2
    left = shaped(await client.post(path, data={"from": "al", "leave": "yes"}), PresenceList, 200)
    assert left.members == listed.members[1:] and left.count == 1


async def test_typing_and_presence_error_bodies(client: httpx.AsyncClient, room: str) -> None:
    typing, path = f"/rooms/{room}/typing", f"/rooms/{room}/presence"
    bad_flag = await client.post(typing, json={"from": "a", "typing": 1})
    assert shaped(bad_flag, FieldError, 400).field == "typing"
    assert shaped(await client.post(path, data={"leave": "no"}), FieldError, 400).field == "from"
    assert shaped(await client.get("/rooms/schema/presence"), FieldError, 400).field == "room"
    shaped(await client.post(typing, content=b"[]", headers=JSON), Error, 400)
    shaped(
        await client.post(path, content=b"x", headers={"content-type": "text/plain"}), Error, 415
    )
    shaped(await client.post(typing, content=b"x" * 70_000, headers=JSON), Error, 413)
    shaped(await client.get("/rooms/a%2Fb/presence"), Error, 404)
