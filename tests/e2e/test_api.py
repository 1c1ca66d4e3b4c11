"""The JSON API over real HTTP: posting, idempotency, validation, paging."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from flychat.config import Settings
from flychat.entrypoints.app import create_app
from tests.support.servers import app_in_thread
from tests.support.sql import closed_port

KEYS = ["id", "provisionalId", "from", "text", "date"]
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def post(client: httpx.AsyncClient, room: str, **fields: str) -> httpx.Response:
    return await client.post(f"/rooms/{room}/messages/", data=fields)


async def history(client: httpx.AsyncClient, room: str, **params: str) -> httpx.Response:
    return await client.get(f"/rooms/{room}/messages/", params=params)


async def test_post_answers_the_stored_message(client: httpx.AsyncClient, room: str) -> None:
    response = await post(client, room, **{"from": "  alice ", "text": "hi\r\nyou"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == KEYS
    assert body["id"] == 1 and body["from"] == "alice" and body["text"] == "hi\nyou"
    assert DATE.fullmatch(body["date"])
    assert re.fullmatch(r"[0-9a-f-]{36}", body["provisionalId"])


async def test_three_body_encodings(client: httpx.AsyncClient, room: str) -> None:
    form = await post(client, room, **{"from": "a", "text": "form"})
    multipart = await client.post(
        f"/rooms/{room}/messages/", files={"from": (None, "b"), "text": (None, "multi ✓")}
    )
    as_json = await client.post(
        f"/rooms/{room}/messages/", json={"from": "c", "text": "json", "provisionalId": "pid-12345"}
    )
    assert [r.status_code for r in (form, multipart, as_json)] == [200, 200, 200]
    assert multipart.json()["text"] == "multi ✓"
    assert as_json.json()["provisionalId"] == "pid-12345"
    texts = [m["text"] for m in (await history(client, room)).json()["messages"]]
    assert texts == ["form", "multi ✓", "json"]


async def test_retried_post_returns_the_same_message(client: httpx.AsyncClient, room: str) -> None:
    fields = {"from": "a", "text": "once", "provisionalId": "retry-0001"}
    first = (await post(client, room, **fields)).json()
    second = (await post(client, room, **fields)).json()
    assert first == second
    assert (await history(client, room)).json()["lastEventId"] == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": "no sender"}, "from"),
        ({"from": "   ", "text": "x"}, "from"),
        ({"from": "x" * 65, "text": "x"}, "from"),
        ({"from": "a", "text": ""}, "text"),
        ({"from": "a", "text": " \n "}, "text"),
        ({"from": "a", "text": "x" * 4001}, "text"),
        ({"from": "a", "text": "bell\x07"}, "text"),
        ({"from": "a", "text": "cr\ronly"}, "text"),
        ({"from": "a", "text": "ok", "provisionalId": "short"}, "provisionalId"),
    ],
)
async def test_invalid_fields_are_rejected_and_nothing_is_stored(
    client: httpx.AsyncClient, room: str, fields: dict[str, str], field: str
) -> None:
    response = await post(client, room, **fields)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert (await history(client, room)).json() == {"messages": [], "lastEventId": 0}


async def test_lone_surrogate_in_json_is_rejected(client: httpx.AsyncClient, room: str) -> None:
    body = b'{"from": "a", "text": "bad \\ud800 half"}'
    response = await client.post(
        f"/rooms/{room}/messages/", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["field"] == "text"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"from=a&text=" + b"x" * 70_000, "application/x-www-form-urlencoded", 413),
        (b"x" * 70_000, "text/plain", 413),
        (b"from=a&text=hi", "text/plain", 415),
        (b"from=a&text=hi", None, 415),
        (b'{"from": "a", "text": ', "application/json", 400),
        (b'["from", "text"]', "application/json", 400),
        (b'{"from": 1, "text": "x"}', "application/json", 400),
        (b'{"from": "a", "text": "b", "n": ' + b"9" * 5000 + b"}", "application/json", 400),
        (b"[" * 60_000, "application/json", 400),
        (b"from=a&text=\xff\xfe", "application/x-www-form-urlencoded", 400),
        (b"from=a&text=%FF%FE", "application/x-www-form-urlencoded", 400),
        (b"--b\r\nbroken", "multipart/form-data; boundary=b", 400),
        (b"from=a&text=hi", "multipart/form-data", 400),
    ],
)
async def test_bad_bodies(
    client: httpx.AsyncClient, room: str, content: bytes, content_type: str | None, status: int
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(f"/rooms/{room}/messages/", content=content, headers=headers)
    assert response.status_code == status
    assert "error" in response.json()
    assert (await history(client, room)).json()["lastEventId"] == 0


@pytest.mark.parametrize("bad_room", ["healthz", "a.b", "x" * 65, "sp%20ace"])
async def test_bad_room_is_400_on_the_api(client: httpx.AsyncClient, bad_room: str) -> None:
    posted = await client.post(f"/rooms/{bad_room}/messages/", data={"from": "a", "text": "b"})
    read = await client.get(f"/rooms/{bad_room}/messages/")
    assert posted.status_code == 400 and read.status_code == 400
    assert posted.json()["field"] == "room"


async def test_paging(client: httpx.AsyncClient, room: str) -> None:
    for i in range(1, 61):
        assert (await post(client, room, **{"from": "u", "text": f"m{i}"})).status_code == 200
    newest = (await history(client, room)).json()
    assert [m["id"] for m in newest["messages"]] == list(range(11, 61))
    assert newest["lastEventId"] == 60
    after = (await history(client, room, after="55")).json()
    assert [m["id"] for m in after["messages"]] == list(range(56, 61))
    before = (await history(client, room, before="5", limit="3")).json()
    assert [m["id"] for m in before["messages"]] == [2, 3, 4]
    one = (await history(client, room, limit="1")).json()
    assert [m["id"] for m in one["messages"]] == [60]


@pytest.mark.parametrize(
    "params",
    [
        {"after": "x"},
        {"after": "-1"},
        {"before": "1.5"},
        {"limit": "0"},
        {"limit": "501"},
        {"after": "1", "before": "5"},
        {"limit": ""},
    ],
)
async def test_bad_paging_is_400(
    client: httpx.AsyncClient, room: str, params: dict[str, str]
) -> None:
    response = await history(client, room, **params)
    assert response.status_code == 400
    assert "error" in response.json()


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


def test_readiness_fails_while_the_store_is_unreachable() -> None:
    settings = Settings(database_url=f"postgresql://postgres@127.0.0.1:{closed_port()}/none")
    with app_in_thread(create_app(settings)) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 503


async def test_json_text_round_trips_exactly(client: httpx.AsyncClient, room: str) -> None:
    text = 'quotes " and \\ and <b>tags</b> and emoji 😀 and tab\there'
    response = await client.post(
        f"/rooms/{room}/messages/",
        content=json.dumps({"from": "a", "text": text}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.json()["text"] == text


async def test_empty_or_null_provisional_id_is_generated(
    client: httpx.AsyncClient, room: str
) -> None:
    blank = await post(client, room, **{"from": "a", "text": "x", "provisionalId": ""})
    null = await client.post(
        f"/rooms/{room}/messages/", json={"from": "a", "text": "y", "provisionalId": None}
    )
    pids = [r.json()["provisionalId"] for r in (blank, null)]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", pid) for pid in pids) and pids[0] != pids[1]
