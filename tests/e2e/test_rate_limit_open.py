"""The post rate limit in open mode: per client address; X-Forwarded-For from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx
import pytest

from flychat.config import Settings
from flychat.domain.ratelimit import Rate
from flychat.entrypoints.app import create_app
from tests.support.servers import app_in_thread


def serve(trusted: str | None) -> Iterator[str]:
    networks = (ipaddress.ip_network(trusted),) if trusted else ()
    settings = Settings(database_url="memory://", post_rate=Rate(2, 60), trusted_proxies=networks)
    with app_in_thread(create_app(settings)) as base:
        yield base


@pytest.fixture(scope="module")
def behind_proxy() -> Iterator[str]:
    yield from serve("127.0.0.1/32")


@pytest.fixture(scope="module")
def exposed() -> Iterator[str]:
    yield from serve(None)


def post(base: str, room: str, forwarded: str | None = None, **body: str) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    data = {"from": "a", "text": "hi", **body}
    return httpx.post(f"{base}/rooms/{room}/messages/", data=data, headers=headers, timeout=5)


def count(base: str, room: str) -> int:
    last: int = httpx.get(f"{base}/rooms/{room}/messages/", timeout=5).json()["lastEventId"]
    return last


def test_per_forwarded_address_behind_a_trusted_proxy(behind_proxy: str) -> None:
    room = "rl-proxy"
    assert [post(behind_proxy, room, "198.51.100.1").status_code for _ in range(2)] == [200, 200]
    over = post(behind_proxy, room, "198.51.100.1")
    assert over.status_code == 429 and 1 <= int(over.headers["retry-after"]) <= 60
    assert post(behind_proxy, room, "198.51.100.2").status_code == 200
    assert post(behind_proxy, room, "203.0.113.9, 198.51.100.1").status_code == 429
    assert count(behind_proxy, room) == 3


def test_429_comes_before_the_body_checks_and_stores_nothing(behind_proxy: str) -> None:
    room = "rl-order"
    for _ in range(2):
        post(behind_proxy, room, "198.51.100.7")
    bad = httpx.post(
        f"{behind_proxy}/rooms/{room}/messages/",
        content=b"x",
        headers={"Content-Type": "text/plain", "X-Forwarded-For": "198.51.100.7"},
        timeout=5,
    )
    assert bad.status_code == 429
    assert post(behind_proxy, room, "198.51.100.7", text="").status_code == 429
    assert count(behind_proxy, room) == 2


def test_forwarded_for_from_an_untrusted_peer_is_ignored(exposed: str) -> None:
    room = "rl-exposed"
    statuses = [post(exposed, room, f"198.51.100.{n}").status_code for n in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert count(exposed, room) == 2
