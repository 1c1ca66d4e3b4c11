"""Typing and presence in GRIP mode behind a real Pushpin, with one and with two app processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_two_servers import shared_store
from tests.support.pushpin import Subscriber, app_process, free_port, running_pushpin

pytestmark = [pytest.mark.pushpin, pytest.mark.slow]

TTL = 3
SWEEP = 0.5
ANNOUNCE_WITHIN = TTL + 15


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as http:
        yield http


def grip_env(grip_url: str, **extra: str) -> dict[str, str]:
    return {
        "GRIP_URL": grip_url,
        "FLYCHAT_DIRECT_STREAMING": "false",
        "FLYCHAT_PRESENCE_TTL": str(TTL),
        "FLYCHAT_PRESENCE_SWEEP_SECONDS": str(SWEEP),
        **extra,
    }


async def beat(client: httpx.AsyncClient, base: str, room: str, who: str, **extra: str) -> None:
    response = await client.post(f"{base}/rooms/{room}/presence", data={"from": who, **extra})
    assert response.status_code == 200, response.text


def presence_events(sub: Subscriber, who: str) -> list[bool]:
    """The ``present`` values announced for ``who``, in arrival order."""
    found = [e.json() for e in sub.events if e.event == "presence"]
    return [data["present"] for data in found if data["from"] == who]


async def test_typing_and_presence_through_pushpin(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    port = free_port()
    with (
        running_pushpin(port) as pushpin,
        app_process(grip_env(pushpin.grip_url, FLYCHAT_DATABASE_URL="memory://"), port, tmp_path),
    ):
        async with asyncio.timeout(60):
            sub = await Subscriber(client, f"{pushpin.url}/rooms/lobby/messages/").start()
            typing = await client.post(f"{pushpin.url}/rooms/lobby/typing", json={"from": "al"})
            assert typing.status_code == 204
            await beat(client, pushpin.url, "lobby", "al")
            await sub.wait_for(lambda s: presence_events(s, "al") == [True], 10)
            typed = [e for e in sub.events if e.event == "typing"]
            assert [(e.id, e.json()) for e in typed] == [
                (None, {"from": "al", "typing": True, "seconds": 6})
            ]
            await sub.wait_for(lambda s: presence_events(s, "al") == [True, False], ANNOUNCE_WITHIN)
            listed = await client.get(f"{pushpin.url}/rooms/lobby/presence")
            assert listed.json() == {"members": [], "count": 0}
            history = await client.get(f"{pushpin.url}/rooms/lobby/messages/")
            assert history.json() == {"messages": [], "lastEventId": 0}
            await sub.close()


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "dynamodb"]
)
async def test_two_processes_announce_each_change_exactly_once(
    kind: str, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    port_a, port_b = free_port(), free_port()
    with shared_store(kind, tmp_path) as store_env, running_pushpin(port_a) as pushpin:
        env = grip_env(pushpin.grip_url, **store_env)
        with (
            app_process(env, port_a, tmp_path) as a,
            app_process(env, port_b, tmp_path) as b,
        ):
            async with asyncio.timeout(90):
                sub = await Subscriber(client, f"{pushpin.url}/rooms/shared/messages/").start()
                await asyncio.gather(
                    *(
                        beat(client, app.url, "shared", who)
                        for app in (a, b)
                        for who in ("al", "bo")
                    )
                )
                for n in range(4):
                    await beat(client, (a, b)[n % 2].url, "shared", "al")
                    await asyncio.sleep(SWEEP)
                await asyncio.gather(
                    beat(client, a.url, "shared", "bo", leave="true"),
                    beat(client, b.url, "shared", "bo", leave="true"),
                )
                await sub.wait_for(lambda s: presence_events(s, "bo") == [True, False], 10)
                await sub.wait_for(
                    lambda s: presence_events(s, "al") == [True, False], ANNOUNCE_WITHIN
                )
                await asyncio.sleep(TTL + 4 * SWEEP)
                assert presence_events(sub, "al") == [True, False], sub.summary()
                assert presence_events(sub, "bo") == [True, False], sub.summary()
                for app in (a, b):
                    listed = await client.get(f"{app.url}/rooms/shared/presence")
                    assert listed.json() == {"members": [], "count": 0}
                await sub.close()
