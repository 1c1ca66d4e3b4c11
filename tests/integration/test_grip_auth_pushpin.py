"""Identity and access in GRIP mode behind a real Pushpin: tokens, recoveries, expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from itertools import count

import httpx
import pytest

from flychat.domain.access import expiry_slot
from tests.support.pushpin import AppProcess, Pushpin, Subscriber, app_process, running_pushpin
from tests.support.servers import free_port
from tests.support.tokens import SECRET, grant, hs256

pytestmark = [pytest.mark.pushpin, pytest.mark.slow]

_rooms = count(1)
LINK_TIMEOUT = 2


@pytest.fixture
def room() -> str:
    return f"auth-room-{next(_rooms)}"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None), limits=limits) as http:
        yield http


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pushpin, AppProcess]]:
    """Pushpin in front of an app with auth on; next links time out every 2 s."""
    port = free_port()
    with running_pushpin(port) as pushpin:
        env = {
            "GRIP_URL": pushpin.grip_url,
            "FLYCHAT_DATABASE_URL": "memory://",
            "FLYCHAT_KEEPALIVE_SECONDS": "1",
            "FLYCHAT_DIRECT_STREAMING": "false",
            "FLYCHAT_GRIP_LINK_TIMEOUT": str(LINK_TIMEOUT),
            "FLYCHAT_AUTH_SECRET": SECRET,
            "FLYCHAT_AUTH_LEEWAY_SECONDS": "0",
        }
        with app_process(env, port, tmp_path_factory.mktemp("logs")) as app:
            yield pushpin, app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wait_in_log(pushpin: Pushpin, needle: str, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while needle not in pushpin.log_path.read_text(errors="replace"):
            await asyncio.sleep(0.1)


async def test_streams_need_a_token_through_the_proxy(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    pushpin, _ = stack
    url = f"{pushpin.url}/rooms/{room}/messages/"
    anonymous = await client.get(url, headers={"Accept": "text/event-stream"})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="flychat"'
    other_room = bearer(grant("bob", read=["elsewhere"]))
    refused = await client.get(url, headers={"Accept": "text/event-stream", **other_room})
    assert refused.status_code == 403
    async with asyncio.timeout(20):
        sub = await Subscriber(client, url, bearer(grant("alice", read=[room]))).start()
        posted = await client.post(
            url, data={"text": "hi"}, headers=bearer(grant("bob", name="Bob", post=[room]))
        )
        assert posted.status_code == 200
        await sub.wait_for_ids(1, 10)
        assert sub.durable()[0].json()["user"] == "bob"
        assert sub.provisional()[0].json()["user"] == "bob"
        await sub.close()


async def test_a_client_sending_grip_last_itself_gains_nothing(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    pushpin, _ = stack
    await client.post(
        f"{pushpin.url}/rooms/{room}/messages/",
        data={"text": "secret"},
        headers=bearer(grant("bob", post=[room])),
    )
    slot = expiry_slot(time.time() + 600)
    forged = {"Grip-Last": f"messages-{room}; last-id=0", "Accept": "*/*"}
    for path in (
        f"/rooms/{room}/messages/?recover=true",
        f"/rooms/{room}/messages/",
        f"/rooms/{room}/messages/expiry/{slot}/?recover=true",
    ):
        response = await client.get(pushpin.url + path, headers=forged)
        assert response.status_code in (401, 404), path
        assert "secret" not in response.text
        assert not any(h.lower().startswith("grip-") for h in response.headers)


async def test_recoveries_need_no_token_and_keep_the_expiry_channel(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    pushpin, _ = stack
    url = f"{pushpin.url}/rooms/{room}/messages/"
    exp = int(time.time()) + 600
    token = hs256(sub="carol", exp=exp, rooms={"read": [room]})
    async with asyncio.timeout(40):
        sub = await Subscriber(client, url, bearer(token)).start()
        link = f"/rooms/{room}/messages/expiry/{expiry_slot(exp)}/?recover=true code=200"
        await wait_in_log(pushpin, link, 3 * LINK_TIMEOUT + 10)
        posted = await client.post(
            url, data={"text": "after recovery"}, headers=bearer(grant("bob", post=[room]))
        )
        assert posted.status_code == 200
        await sub.wait_for_ids(1, 10)
        assert not sub.ended
        await sub.close()


async def test_a_held_stream_is_closed_after_its_token_expires(
    stack: tuple[Pushpin, AppProcess], client: httpx.AsyncClient, room: str
) -> None:
    """Takes up to about 40 s: the stream ends within 60 s after exp (here within ~31 s)."""
    pushpin, _ = stack
    url = f"{pushpin.url}/rooms/{room}/messages/"
    exp = int(time.time()) + 5
    short = hs256(sub="dave", exp=exp, rooms={"read": [room]})
    lasting = grant("erin", read=[room], ttl=600)
    async with asyncio.timeout(90):
        expiring = await Subscriber(client, url, bearer(short)).start()
        staying = await Subscriber(client, url, bearer(lasting)).start()
        await expiring.wait_for(lambda s: s.ended, 75)
        ended = time.time()
        assert exp <= ended <= exp + 60, (exp, ended)
        assert expiring.error is None and expiring.status == 200
        assert not any(e.event == "stream-reset" for e in expiring.events)
        assert not staying.ended
        log = pushpin.log_path.read_text(errors="replace").splitlines()
        link = f"/expiry/{expiry_slot(exp)}/"
        recoveries = [line for line in log if link in line and " code=" in line]
        assert recoveries and all("code=200" in line for line in recoveries), recoveries
        again = await client.get(url, headers={"Accept": "text/event-stream", **bearer(short)})
        assert again.status_code == 401
        assert again.headers["www-authenticate"].endswith('error="invalid_token"')
        await staying.close()
