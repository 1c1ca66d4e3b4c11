"""GRIP mode behind a real Pushpin, with the real app as a child process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from itertools import count
from pathlib import Path

import httpx
import jwt
import pytest

from flychat.adapters.grip.proxy import parse_grip_url
from flychat.adapters.grip.publisher import GripPublisher
from flychat.domain.model import Message, RoomId
from tests.support.pushpin import (
    AppProcess,
    Pushpin,
    Subscriber,
    app_process,
    free_port,
    running_pushpin,
    subscribers,
    wait_for_recovery,
)

pytestmark = [pytest.mark.pushpin, pytest.mark.slow]

_rooms = count(1)
UNLIMITED = httpx.Limits(max_connections=None, max_keepalive_connections=None)


@pytest.fixture
def room() -> str:
    return f"room-{next(_rooms)}"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None), limits=UNLIMITED) as http:
        yield http


def app_env(pushpin: Pushpin | list[Pushpin], **extra: str) -> dict[str, str]:
    proxies = pushpin if isinstance(pushpin, list) else [pushpin]
    return {
        "GRIP_URL": ",".join(p.grip_url for p in proxies),
        "FLYCHAT_DATABASE_URL": "memory://",
        "FLYCHAT_KEEPALIVE_SECONDS": "1",
        "FLYCHAT_DIRECT_STREAMING": "false",
        **extra,
    }


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'chat.db'}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pushpin, AppProcess]]:
    """One Pushpin in front of one app, shared by the tests that keep both running."""
    port = free_port()
    with (
        running_pushpin(port) as pushpin,
        app_process(app_env(pushpin), port, tmp_path_factory.mktemp("logs")) as app,
    ):
        yield pushpin, app


async def post(client: httpx.AsyncClient, base: str, room: str, text: str) -> dict[str, object]:
    response = await client.post(f"{base}/rooms/{room}/messages/", data={"from": "t", "text": text})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def assert_exactly(subs: list[Subscriber], ids: list[int]) -> None:
    for sub in subs:
        assert sub.durable_ids() == ids, sub.summary()
        assert not any(e.event == "stream-reset" for e in sub.events), sub.summary()


async def test_provisional_and_durable_events_and_keepalives(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    pushpin, _ = stack
    async with asyncio.timeout(20):
        sub = await Subscriber(client, f"{pushpin.url}/rooms/{room}/messages/").start()
        await post(client, pushpin.url, room, "hello")
        await sub.wait_for_ids(1, 5)
        provisional, durable = sub.provisional()[0], sub.durable()[0]
        assert provisional.json()["text"] == "hello" and "id" not in provisional.json()
        assert durable.json()["provisionalId"] == provisional.json()["provisionalId"]
        assert sub.events.index(provisional) < sub.events.index(durable)
        await sub.wait_for(lambda s: len(s.comments()) >= 2, 5)
        assert set(sub.comments()) == {"keep-alive"}
        await sub.close()


async def test_json_pages_and_health_pass_through_unchanged(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    pushpin, app = stack
    async with asyncio.timeout(20):
        await post(client, pushpin.url, room, "<b>a & b</b>")
        for path in (f"/rooms/{room}/messages/", f"/rooms/{room}/messages/?after=0&limit=5"):
            via, direct = await client.get(pushpin.url + path), await client.get(app.url + path)
            assert via.status_code == direct.status_code == 200
            assert via.json() == direct.json() and via.json()["lastEventId"] == 1
            assert not any(h.lower().startswith("grip-") for h in via.headers)
        for path in (f"/{room}?user=alice", f"/{room}", "/healthz", "/readyz"):
            via, direct = await client.get(pushpin.url + path), await client.get(app.url + path)
            assert (via.status_code, via.text) == (direct.status_code, direct.text)
        bad = await client.get(f"{pushpin.url}/rooms/bad!room/messages/")
        assert bad.status_code == 400


async def test_forged_grip_sig_straight_to_the_app_gets_no_grip_instructions(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    pushpin, app = stack
    claims = {"iss": pushpin.sig_iss, "exp": int(time.time()) + 60}
    forged = {
        "Grip-Sig": jwt.encode(claims, "not the proxy's key, but long enough", algorithm="HS256"),
        "Grip-Last": f"messages-{room}; last-id=0",
    }
    url = f"{app.url}/rooms/{room}/messages/"
    as_json = await client.get(url + "?recover=true", headers={"Accept": "*/*", **forged})
    as_stream = await client.get(url, headers={"Accept": "text/event-stream", **forged})
    assert as_json.status_code == 200 and as_json.json()["lastEventId"] == 0
    assert as_stream.status_code == 503
    for response in (as_json, as_stream):
        assert not any(h.lower().startswith("grip-") for h in response.headers)
    async with asyncio.timeout(10):
        sub = await Subscriber(client, f"{pushpin.url}/rooms/{room}/messages/").start()
        assert sub.status == 200
        await sub.close()


def unreachable(pushpin: Pushpin, transport: str) -> str:
    """A GRIP_URL entry with Pushpin's key whose publishes reach no Pushpin."""
    url = f"http://127.0.0.1:{free_port()}?iss=pushpin&key={pushpin.sig_key}"
    return url + (f"&zmq=tcp://127.0.0.1:{free_port()}" if transport == "zmq" else "")


def publish_url(pushpin: Pushpin, transport: str) -> str:
    return pushpin.grip_url if transport == "zmq" else pushpin.http_grip_url


@pytest.mark.parametrize("transport", ["zmq", "http"])
async def test_out_of_order_publishes_are_delivered_in_order(
    tmp_path: Path, client: httpx.AsyncClient, room: str, transport: str
) -> None:
    """The app cannot reach Pushpin; the test publishes stored messages 5..1 in reverse."""
    port = free_port()
    with running_pushpin(port) as pushpin:
        wrong = unreachable(pushpin, transport)
        env = {**app_env(pushpin), "GRIP_URL": wrong, "FLYCHAT_GRIP_LINK_TIMEOUT": "300"}
        with app_process(env, port, tmp_path):
            async with asyncio.timeout(30):
                subs = await subscribers(client, f"{pushpin.url}/rooms/{room}/messages/", 3)
                await wait_for_recovery(pushpin, room)
                stored = [await post(client, pushpin.url, room, f"m{i}") for i in range(5)]
                publisher = GripPublisher([parse_grip_url(publish_url(pushpin, transport))])
                await publisher.start()
                for body in reversed(stored):
                    publisher.publish_message(RoomId(room), message_of(body))
                    await asyncio.sleep(0.05)
                await publisher.close()
                await asyncio.gather(*(s.wait_for_ids(5, 10) for s in subs))
                assert_exactly(subs, [1, 2, 3, 4, 5])


def message_of(body: dict[str, object]) -> Message:
    date = datetime.fromisoformat(str(body["date"]).replace("Z", "+00:00"))
    mid = body["id"]
    assert isinstance(mid, int)
    return Message(mid, str(body["provisionalId"]), str(body["from"]), str(body["text"]), date)


@pytest.mark.parametrize("transport", ["zmq", "http"])
async def test_lost_publishes_are_recovered_through_the_next_link(
    tmp_path: Path, client: httpx.AsyncClient, room: str, transport: str
) -> None:
    port = free_port()
    with running_pushpin(port) as pushpin:
        wrong = unreachable(pushpin, transport)
        env = {**app_env(pushpin), "GRIP_URL": wrong, "FLYCHAT_GRIP_LINK_TIMEOUT": "2"}
        with app_process(env, port, tmp_path):
            async with asyncio.timeout(40):
                url = f"{pushpin.url}/rooms/{room}/messages/"
                subs = await subscribers(client, url, 5)
                await post(client, pushpin.url, room, "first")
                await asyncio.gather(*(s.wait_for_ids(1, 10) for s in subs))
                await asyncio.gather(*(post(client, pushpin.url, room, f"b{i}") for i in range(20)))
                await asyncio.gather(*(s.wait_for_ids(21, 15) for s in subs))
                assert_exactly(subs, list(range(1, 22)))


async def test_publishing_through_the_http_control_port_still_works(
    tmp_path: Path, client: httpx.AsyncClient, room: str
) -> None:
    """A proxy named without zmq= (Fanout Cloud, a remote Pushpin) gets POST /publish/."""
    port = free_port()
    with running_pushpin(port) as pushpin:
        env = {**app_env(pushpin), "GRIP_URL": pushpin.http_grip_url}
        with app_process(env, port, tmp_path):
            async with asyncio.timeout(30):
                subs = await subscribers(client, f"{pushpin.url}/rooms/{room}/messages/", 3)
                await wait_for_recovery(pushpin, room)
                await asyncio.gather(*(post(client, pushpin.url, room, f"h{i}") for i in range(30)))
                await asyncio.gather(*(s.wait_for_ids(30, 15) for s in subs))
                assert_exactly(subs, list(range(1, 31)))
                for sub in subs:
                    texts = sorted(e.json()["text"] for e in sub.provisional() if e.data)
                    assert texts == sorted(f"h{i}" for i in range(30)), sub.summary()
        assert "control: POST /publish/" in pushpin.log_path.read_text(errors="replace")


async def test_zmq_publishes_reach_held_streams_without_the_control_port(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    pushpin, app = stack
    async with asyncio.timeout(20):
        sub = await Subscriber(client, f"{pushpin.url}/rooms/{room}/messages/").start()
        for i in range(5):
            await post(client, app.url, room, f"z{i}")
        await sub.wait_for_ids(5, 10)
        assert_exactly([sub], [1, 2, 3, 4, 5])
        texts = [e.json()["text"] for e in sub.provisional() if e.data]
        assert texts == [f"z{i}" for i in range(5)]
        await sub.close()
    log = pushpin.log_path.read_text(errors="replace")
    assert f"publish channel=messages-{room}" in log
    assert "control: POST /publish/" not in log


async def test_concurrent_posts_arrive_in_order_once(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    pushpin, app = stack
    async with asyncio.timeout(30):
        subs = await subscribers(client, f"{pushpin.url}/rooms/{room}/messages/", 10)
        await asyncio.gather(*(post(client, app.url, room, f"c{i}") for i in range(100)))
        await asyncio.gather(*(s.wait_for_ids(100, 15) for s in subs))
        assert_exactly(subs, list(range(1, 101)))


async def test_app_restart_keeps_streams_and_loses_nothing(
    tmp_path: Path, client: httpx.AsyncClient, room: str
) -> None:
    port = free_port()
    env_store = {"FLYCHAT_DATABASE_URL": sqlite_url(tmp_path)}
    with running_pushpin(port) as pushpin:
        env = app_env(pushpin, **env_store)
        async with asyncio.timeout(60):
            with app_process(env, port, tmp_path):
                subs = await subscribers(client, f"{pushpin.url}/rooms/{room}/messages/", 5)
                for i in range(3):
                    await post(client, pushpin.url, room, f"before {i}")
                await asyncio.gather(*(s.wait_for_ids(3, 10) for s in subs))
                await wait_for_recovery(pushpin, room)
            with app_process(env, port, tmp_path):
                for i in range(3):
                    await post(client, pushpin.url, room, f"after {i}")
                await asyncio.gather(*(s.wait_for_ids(6, 10) for s in subs))
            assert all(not s.ended for s in subs)
            assert_exactly(subs, [1, 2, 3, 4, 5, 6])


async def test_two_apps_behind_one_pushpin_post_concurrently(
    tmp_path: Path, client: httpx.AsyncClient, room: str
) -> None:
    port, other_port = free_port(), free_port()
    env_store = {"FLYCHAT_DATABASE_URL": sqlite_url(tmp_path)}
    with running_pushpin(port) as pushpin:
        env = app_env(pushpin, **env_store)
        with app_process(env, port, tmp_path) as one, app_process(env, other_port, tmp_path) as two:
            async with asyncio.timeout(60):
                subs = await subscribers(client, f"{pushpin.url}/rooms/{room}/messages/", 5)
                posts = [
                    post(client, app.url, room, f"p{i}") for i in range(30) for app in (one, two)
                ]
                await asyncio.gather(*posts)
                await asyncio.gather(*(s.wait_for_ids(60, 20) for s in subs))
                assert_exactly(subs, list(range(1, 61)))


async def test_two_pushpin_instances_both_receive_everything(
    tmp_path: Path, client: httpx.AsyncClient, room: str
) -> None:
    port = free_port()
    with (
        running_pushpin(port, instance_id=1) as first,
        running_pushpin(port, instance_id=2, sig_key=first.sig_key) as second,
        app_process(app_env([first, second]), port, tmp_path),
    ):
        async with asyncio.timeout(30):
            path = f"/rooms/{room}/messages/"
            subs = await subscribers(client, first.url + path, 3)
            subs += await subscribers(client, second.url + path, 3)
            for i in range(10):
                await post(client, (first, second)[i % 2].url, room, f"x{i}")
            await asyncio.gather(*(s.wait_for_ids(10, 10) for s in subs))
            assert_exactly(subs, list(range(1, 11)))
