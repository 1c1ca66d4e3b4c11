"""Identity and access over real HTTP (SPEC 9), on every store: statuses, headers, bodies."""

from __future__ import annotations

import asyncio
import time
import uuid
from itertools import count

import httpx
import pytest

from tests.e2e.conftest import AUTH_POST_RATE, CORS_ORIGIN
from tests.e2e.streams import open_stream
from tests.support.tokens import grant, hs256

REALM = 'Bearer realm="flychat"'
INVALID = 'Bearer realm="flychat", error="invalid_token"'
SCOPE = 'Bearer realm="flychat", error="insufficient_scope"'
_subs = count(1)


def sub() -> str:
    """A user id no other test uses (the rate limit counts per sub)."""
    return f"u{next(_subs)}-{uuid.uuid4().hex[:6]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reader(room: str) -> dict[str, str]:
    return bearer(grant(sub(), read=[room], post=[]))


async def stored(client: httpx.AsyncClient, room: str) -> list[dict[str, object]]:
    response = await client.get(f"/rooms/{room}/messages/", headers=reader(room))
    assert response.status_code == 200
    messages: list[dict[str, object]] = response.json()["messages"]
    return messages


def assert_refused(response: httpx.Response, status: int, challenge: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers.get("www-authenticate") == challenge
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["error"], str) and response.json()["error"]


async def test_no_token_is_401_with_the_bare_challenge(
    auth_client: httpx.AsyncClient, room: str
) -> None:
    path = f"/rooms/{room}/messages/"
    history = await auth_client.get(path)
    stream = await auth_client.get(path, headers={"Accept": "text/event-stream"})
    posted = await auth_client.post(path, data={"from": "a", "text": "hi"})
    for response in (history, stream, posted):
        assert_refused(response, 401, REALM)
    assert await stored(auth_client, room) == []


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        hs256(secret="some-other-secret-of-32-bytes-or-more", rooms={"read": ["*"]}),
        grant("late", ttl=-5),
        hs256(sub="", rooms={"read": ["*"]}),
    ],
    ids=["malformed", "bad-signature", "expired", "bad-sub"],
)
async def test_bad_token_is_401_invalid_token(
    auth_client: httpx.AsyncClient, room: str, token: str
) -> None:
    path = f"/rooms/{room}/messages/"
    for response in (
        await auth_client.get(path, headers=bearer(token)),
        await auth_client.get(path, headers={**bearer(token), "Accept": "text/event-stream"}),
        await auth_client.post(path, data={"text": "hi"}, headers=bearer(token)),
    ):
        assert_refused(response, 401, INVALID)
    assert await stored(auth_client, room) == []


async def test_room_not_granted_is_403_insufficient_scope(
    auth_client: httpx.AsyncClient, room: str
) -> None:
    path = f"/rooms/{room}/messages/"
    elsewhere = bearer(grant(sub(), read=["other-*"], post=["other-*"]))
    post_only = bearer(grant(sub(), read=[], post=[room]))
    read_only = bearer(grant(sub(), read=[room], post=[]))
    assert_refused(await auth_client.get(path, headers=elsewhere), 403, SCOPE)
    assert_refused(await auth_client.get(path, headers=post_only), 403, SCOPE)
    assert_refused(
        await auth_client.get(path, headers={**post_only, "Accept": "text/event-stream"}),
        403,
        SCOPE,
    )
    assert_refused(await auth_client.post(path, data={"text": "x"}, headers=elsewhere), 403, SCOPE)
    assert_refused(await auth_client.post(path, data={"text": "x"}, headers=read_only), 403, SCOPE)
    assert (await auth_client.post(path, data={"text": "ok"}, headers=post_only)).status_code == 200
    assert [m["text"] for m in await stored(auth_client, room)] == ["ok"]


async def test_prefix_and_star_grants(auth_client: httpx.AsyncClient) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    prefixed = bearer(grant(sub(), read=["team-*"], post=["team-*"]))
    star = bearer(grant(sub(), read=["*"], post=[]))
    assert (await auth_client.get(f"/rooms/{team}/messages/", headers=prefixed)).status_code == 200
    assert (await auth_client.get(f"/rooms/x{team}/messages/", headers=prefixed)).status_code == 403
    assert (await auth_client.get(f"/rooms/{team}/messages/", headers=star)).status_code == 200


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "text/plain"}, b"hello"),
        ({"Content-Type": "application/json"}, b"{not json"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"text=" + b"x" * 70_000),
    ],
    ids=["415", "400", "413"],
)
async def test_401_and_403_come_before_body_checks(
    auth_client: httpx.AsyncClient, room: str, headers: dict[str, str], body: bytes
) -> None:
    path = f"/rooms/{room}/messages/"
    anonymous = await auth_client.post(path, content=body, headers=headers)
    assert_refused(anonymous, 401, REALM)
    expired = await auth_client.post(
        path, content=body, headers={**headers, **bearer(grant("old", ttl=-60))}
    )
    assert_refused(expired, 401, INVALID)
    read_only = await auth_client.post(path, content=body, headers={**headers, **reader(room)})
    assert_refused(read_only, 403, SCOPE)
    allowed = await auth_client.post(
        path, content=body, headers={**headers, **bearer(grant(sub(), post=[room]))}
    )
    assert allowed.status_code in (400, 413, 415)
    assert await stored(auth_client, room) == []


async def test_sender_is_the_token_and_user_follows_from(
    auth_client: httpx.AsyncClient, room: str
) -> None:
    me = sub()
    token = bearer(grant(me, name="Alice Liddell", read=[room], post=[room]))
    path = f"/rooms/{room}/messages/"
    async with open_stream(auth_client, room, headers=token) as stream:
        assert (await stream.next()).event == "stream-open"
        spoofed = await auth_client.post(
            path, json={"from": "mallory", "text": "hi"}, headers=token
        )
        provisional, durable = await stream.take(2)
    without_from = await auth_client.post(path, data={"text": "no from"}, headers=token)
    assert spoofed.status_code == 200 and without_from.status_code == 200
    body = spoofed.json()
    assert list(body) == ["id", "provisionalId", "from", "user", "text", "date"]
    assert (body["from"], body["user"]) == ("Alice Liddell", me)
    assert list(provisional.json()) == ["provisionalId", "from", "user", "text", "date"]
    assert provisional.json()["user"] == me and provisional.id is None
    assert durable.json() == body and durable.id == str(body["id"])
    history = await stored(auth_client, room)
    assert [(m["from"], m["user"], m["text"]) for m in history] == [
        ("Alice Liddell", me, "hi"),
        ("Alice Liddell", me, "no from"),
    ]


async def test_name_defaults_to_sub(auth_client: httpx.AsyncClient, room: str) -> None:
    me = sub()
    response = await auth_client.post(
        f"/rooms/{room}/messages/", data={"text": "x"}, headers=bearer(grant(me, post=[room]))
    )
    assert (response.json()["from"], response.json()["user"]) == (me, me)


async def test_cookie_carries_the_token_and_bearer_wins(
    auth_client: httpx.AsyncClient, room: str
) -> None:
    path = f"/rooms/{room}/messages/"
    good = grant(sub(), read=[room], post=[])
    cookie = {"Cookie": f"flychat_token={good}"}
    assert (await auth_client.get(path, headers=cookie)).status_code == 200
    both = {**cookie, **bearer("garbage")}
    assert_refused(await auth_client.get(path, headers=both), 401, INVALID)
    basic = {**cookie, "Authorization": "Basic dXNlcjpwdw=="}
    assert (await auth_client.get(path, headers=basic)).status_code == 200
    query = await auth_client.get(path, params={"access_token": good, "token": good})
    assert_refused(query, 401, REALM)


async def test_open_paths_need_no_token(auth_client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz", "/schema/openapi.json", "/static/style.css"):
        response = await auth_client.get(path)
        assert response.status_code == 200, path


async def test_idempotency_is_unchanged(auth_client: httpx.AsyncClient, room: str) -> None:
    token = bearer(grant(sub(), post=[room]))
    fields = {"text": "once", "provisionalId": "auth-retry-0001"}
    first = await auth_client.post(f"/rooms/{room}/messages/", data=fields, headers=token)
    again = await auth_client.post(f"/rooms/{room}/messages/", data=fields, headers=token)
    assert first.json() == again.json()
    assert len(await stored(auth_client, room)) == 1


async def test_cross_site_cookie_post_is_refused(auth_client: httpx.AsyncClient, room: str) -> None:
    path = f"/rooms/{room}/messages/"
    token = grant(sub(), post=[room])
    cookie = {"Cookie": f"flychat_token={token}"}
    for origin in ("https://evil.example", "null", f"{auth_client.base_url.scheme}://evil"):
        refused = await auth_client.post(
            path, data={"text": "csrf"}, headers={**cookie, "Origin": origin}
        )
        assert refused.status_code == 403, origin
        assert "cross-site" in refused.json()["error"]
    own = str(auth_client.base_url).rstrip("/")
    allowed = [
        {**cookie, "Origin": own},
        {**cookie, "Origin": CORS_ORIGIN},
        cookie,
        {**bearer(token), "Origin": "https://evil.example"},
    ]
    for headers in allowed:
        response = await auth_client.post(path, data={"text": "fine"}, headers=headers)
        assert response.status_code == 200, headers
    assert [m["text"] for m in await stored(auth_client, room)] == ["fine"] * 4


async def test_cors_for_the_listed_origin(auth_client: httpx.AsyncClient, room: str) -> None:
    path = f"/rooms/{room}/messages/"
    preflight = await auth_client.options(
        path,
        headers={
            "Origin": CORS_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    simple = await auth_client.get(path, headers={"Origin": CORS_ORIGIN, **reader(room)})
    assert simple.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert simple.headers["access-control-allow-credentials"] == "true"
    foreign = await auth_client.get(
        path, headers={"Origin": "https://evil.example", **reader(room)}
    )
    assert "access-control-allow-origin" not in foreign.headers


async def test_rate_limit_per_sub(auth_client: httpx.AsyncClient, room: str) -> None:
    path = f"/rooms/{room}/messages/"
    me = sub()
    token = bearer(grant(me, post=[room]))
    limit = AUTH_POST_RATE.count
    for n in range(limit - 1):
        assert (await auth_client.post(path, data={"text": f"m{n}"}, headers=token)).is_success
    repeat = {"text": "again", "provisionalId": "rate-pid-0001"}
    assert (await auth_client.post(path, data=repeat, headers=token)).status_code == 200
    over = await auth_client.post(path, data={"text": "too many"}, headers=token)
    assert over.status_code == 429
    assert 1 <= int(over.headers["retry-after"]) <= AUTH_POST_RATE.seconds
    assert "error" in over.json()
    bad_body = await auth_client.post(path, content=b"{", headers={**token, "Content-Type": "x/y"})
    assert bad_body.status_code == 429
    other = bearer(grant(sub(), post=[room]))
    assert (await auth_client.post(path, data={"text": "other user"}, headers=other)).is_success
    texts = [m["text"] for m in await stored(auth_client, room)]
    assert texts == [f"m{n}" for n in range(limit - 1)] + ["again", "other user"]


async def test_refused_requests_do_not_count(auth_client: httpx.AsyncClient, room: str) -> None:
    me = sub()
    path = f"/rooms/{room}/messages/"
    wrong_room = bearer(grant(me, post=["elsewhere"]))
    for _ in range(AUTH_POST_RATE.count + 2):
        assert (
            await auth_client.post(path, data={"text": "x"}, headers=wrong_room)
        ).status_code == 403
    token = bearer(grant(me, post=[room]))
    assert (await auth_client.post(path, data={"text": "counted"}, headers=token)).is_success


async def test_direct_stream_ends_cleanly_at_exp(auth_client: httpx.AsyncClient, room: str) -> None:
    exp = int(time.time()) + 3
    token = hs256(sub=sub(), exp=exp, rooms={"read": [room], "post": [room]})
    post_token = bearer(grant(sub(), post=[room]))
    seen = []
    async with open_stream(auth_client, room, headers=bearer(token)) as stream:
        await auth_client.post(
            f"/rooms/{room}/messages/", data={"text": "live"}, headers=post_token
        )
        with pytest.raises(StopAsyncIteration):
            while True:
                seen.append(await stream.next(timeout=10))
        ended = time.time()
    assert exp - 0.5 <= ended <= exp + 5
    assert [e.event for e in seen] == ["stream-open", "message", "message"]
    assert seen[-1].json()["text"] == "live"
    again = await auth_client.get(
        f"/rooms/{room}/messages/", headers={**bearer(token), "Accept": "text/event-stream"}
    )
    assert_refused(again, 401, INVALID)


async def test_stream_with_a_token_expiring_later_stays_open(
    auth_client: httpx.AsyncClient, room: str
) -> None:
    token = bearer(grant(sub(), read=[room], ttl=600))
    async with open_stream(auth_client, room, headers=token) as stream:
        assert (await stream.next()).event == "stream-open"
        comment = await stream.next(timeout=3, comments=True)
        assert comment.comment is not None
        await asyncio.sleep(0.5)
        assert not stream.response.is_closed


async def test_session_sets_the_cookie_and_redirects(auth_client: httpx.AsyncClient) -> None:
    token = grant(sub(), ttl=600)
    response = await auth_client.post("/auth/session", data={"token": token, "next": "/lobby?x=1"})
    assert response.status_code == 303
    assert response.headers["location"] == "/lobby?x=1"
    cookie = response.headers["set-cookie"]
    parts = [p.strip().lower() for p in cookie.split(";")]
    assert parts[0] == f"flychat_token={token}".lower()
    assert "httponly" in parts and "samesite=lax" in parts and "path=/" in parts
    assert "secure" not in parts
    max_age = next(int(p.split("=")[1]) for p in parts if p.startswith("max-age="))
    assert 590 <= max_age <= 600
    assert any(p.startswith("expires=") for p in parts)


async def test_session_is_secure_over_https(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post(
        "/auth/session", data={"token": grant(sub())}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "secure" in [p.strip().lower() for p in response.headers["set-cookie"].split(";")]


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "lobby", ""]
)
async def test_session_redirects_only_to_local_paths(
    auth_client: httpx.AsyncClient, target: str
) -> None:
    response = await auth_client.post("/auth/session", data={"token": grant(sub()), "next": target})
    assert response.status_code == 303 and response.headers["location"] == "/"


@pytest.mark.parametrize("token", ["", "garbage", grant("old", ttl=-60)])
async def test_session_with_a_bad_token_is_401_without_cookie(
    auth_client: httpx.AsyncClient, token: str
) -> None:
    response = await auth_client.post("/auth/session", data={"token": token, "next": "/lobby"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert response.headers["www-authenticate"].startswith(REALM)
    page = await auth_client.post(
        "/auth/session", data={"token": token}, headers={"Accept": "text/html"}
    )
    assert page.status_code == 401 and "<form" in page.text
    assert page.headers["content-type"].startswith("text/html")


async def test_session_from_a_foreign_origin_is_refused(auth_client: httpx.AsyncClient) -> None:
    token = grant(sub(), ttl=600)
    for origin in ("https://evil.example", "null", f"{auth_client.base_url.scheme}://evil"):
        for path in ("/auth/session", "/auth/logout"):
            refused = await auth_client.post(
                path, data={"token": token}, headers={"Origin": origin}
            )
            assert refused.status_code == 403, (path, origin)
            assert "set-cookie" not in refused.headers
            assert "cross-site" in refused.json()["error"]
    page = await auth_client.post(
        "/auth/session",
        data={"token": token},
        headers={"Origin": "https://evil.example", "Accept": "text/html"},
    )
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    own = str(auth_client.base_url).rstrip("/")
    for headers in ({"Origin": own}, {"Origin": CORS_ORIGIN}, {}):
        signed_in = await auth_client.post("/auth/session", data={"token": token}, headers=headers)
        assert signed_in.status_code == 303, headers
        assert signed_in.headers["set-cookie"].startswith(f"flychat_token={token}")
        signed_out = await auth_client.post("/auth/logout", headers=headers)
        assert (
            signed_out.status_code == 303
            and "max-age=0" in signed_out.headers["set-cookie"].lower()
        )


async def test_logout_clears_the_cookie(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post("/auth/logout")
    assert response.status_code == 303 and response.headers["location"] == "/"
    parts = [p.strip().lower() for p in response.headers["set-cookie"].split(";")]
    assert parts[0] in ("flychat_token=", 'flychat_token=""') and "max-age=0" in parts


async def test_pages_sign_in_chat_or_403(auth_client: httpx.AsyncClient, room: str) -> None:
    html = {"Accept": "text/html"}
    me = sub()
    anonymous = await auth_client.get(f"/{room}?user=mallory", headers=html)
    assert anonymous.status_code == 200
    assert 'action="/auth/session"' in anonymous.text and "mallory" not in anonymous.text
    poster = bearer(grant(me, post=[room]))
    await auth_client.post(f"/rooms/{room}/messages/", data={"text": "hello"}, headers=poster)
    cookie = {"Cookie": f"flychat_token={grant(me, name='Alice <3', read=[room], post=[])}", **html}
    chat = await auth_client.get(f"/{room}?user=mallory", headers=cookie)
    assert chat.status_code == 200
    assert "Alice &lt;3" in chat.text and "mallory" not in chat.text
    assert 'data-auth="on"' in chat.text and f'data-sub="{me}"' in chat.text
    assert "hello" in chat.text and 'action="/auth/logout"' in chat.text
    assert 'id="composer" class="composer" autocomplete="off" hidden' in chat.text
    other = {"Cookie": f"flychat_token={grant(sub(), read=['other'])}", **html}
    forbidden = await auth_client.get(f"/{room}", headers=other)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    assert forbidden.headers["www-authenticate"] == SCOPE
    expired = {"Cookie": f"flychat_token={grant(me, read=[room], ttl=-60)}", **html}
    signed_out = await auth_client.get(f"/{room}", headers=expired)
    assert signed_out.status_code == 200 and "signed out" in signed_out.text


async def test_typing_and_presence_need_their_grants(
    auth_client: httpx.AsyncClient, room: str
) -> None:
    typing, presence = f"/rooms/{room}/typing", f"/rooms/{room}/presence"
    reader_only = bearer(grant(sub(), read=[room], post=[]))
    poster_only = bearer(grant(sub(), read=[], post=[room]))
    assert_refused(await auth_client.post(typing, data={"from": "x"}), 401, REALM)
    assert_refused(await auth_client.post(presence, data={"from": "x"}), 401, REALM)
    assert_refused(await auth_client.get(presence), 401, REALM)
    assert_refused(await auth_client.post(typing, headers=reader_only), 403, SCOPE)
    assert_refused(await auth_client.post(presence, headers=poster_only), 403, SCOPE)
    assert_refused(await auth_client.get(presence, headers=poster_only), 403, SCOPE)
    bad_body = {**reader_only, "Content-Type": "text/plain"}
    assert_refused(
        await auth_client.post(presence, content=b"x", headers={"Content-Type": "text/plain"}),
        401,
        REALM,
    )
    assert (await auth_client.post(presence, content=b"x", headers=bad_body)).status_code == 415
    assert (await auth_client.get(presence, headers=reader_only)).json()["count"] == 0


async def test_presence_and_typing_are_keyed_by_the_token(
    auth_client: httpx.AsyncClient, room: str
) -> None:
    me = sub()
    token = bearer(grant(me, name="Alice Liddell", read=[room], post=[room]))
    async with open_stream(auth_client, room, headers=token) as stream:
        assert (await stream.next()).event == "stream-open"
        beat = await auth_client.post(
            f"/rooms/{room}/presence", data={"from": "mallory"}, headers=token
        )
        assert beat.status_code == 200
        [member] = beat.json()["members"]
        assert list(member) == ["from", "user", "lastSeen"]
        assert (member["from"], member["user"]) == ("Alice Liddell", me)
        typed = await auth_client.post(f"/rooms/{room}/typing", json={}, headers=token)
        assert typed.status_code == 204
        appeared, typing = await stream.take(2)
        assert (appeared.event, appeared.json()) == (
            "presence",
            {"from": "Alice Liddell", "user": me, "present": True},
        )
        assert typing.event == "typing"
        assert list(typing.json()) == ["from", "user", "typing", "seconds"]
        assert typing.json()["user"] == me


async def test_cross_site_cookie_presence_is_refused(
    auth_client: httpx.AsyncClient, room: str
) -> None:
    cookie = {"Cookie": f"flychat_token={grant(sub(), read=[room])}"}
    refused = await auth_client.post(
        f"/rooms/{room}/presence", headers={**cookie, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    listed = await auth_client.get(f"/rooms/{room}/presence", headers=cookie)
    assert listed.json()["count"] == 0
