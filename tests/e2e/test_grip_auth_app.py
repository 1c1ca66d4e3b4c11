"""GRIP answers with auth on, over HTTP, with Grip-Sig made by the test (no proxy needed)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from flychat.domain.access import expiry_slot
from flychat.entrypoints.app import create_app
from tests.e2e.test_grip_app import SSE, grip_headers, grip_sig, settings
from tests.support.servers import app_in_thread
from tests.support.tokens import SECRET, grant, hs256


@pytest.fixture(scope="module")
def auth_grip_url() -> Iterator[str]:
    with app_in_thread(create_app(settings(auth_secret=SECRET))) as url:
        yield url


@pytest.fixture
async def http(auth_grip_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=auth_grip_url, timeout=10) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_held_stream_joins_its_expiry_channel(http: httpx.AsyncClient, room: str) -> None:
    exp = int(time.time()) + 300
    token = hs256(sub="alice", exp=exp, rooms={"read": [room]})
    response = await http.get(
        f"/rooms/{room}/messages/", headers={**SSE, **grip_sig(), **bearer(token)}
    )
    assert response.status_code == 200
    slot = expiry_slot(exp)
    headers = grip_headers(response)
    assert headers["grip-channel"] == (
        f"t-messages-{room}; prev-id=0, t-provisional-{room}, t-expiry-{slot}"
    )
    assert headers["grip-link"] == (
        f"</rooms/{room}/messages/expiry/{slot}/?recover=true>; rel=next; timeout=9"
    )


async def test_a_signed_stream_request_still_needs_a_token(
    http: httpx.AsyncClient, room: str
) -> None:
    response = await http.get(f"/rooms/{room}/messages/", headers={**SSE, **grip_sig()})
    assert response.status_code == 401 and not grip_headers(response)


async def test_recovery_needs_no_token_and_keeps_the_expiry_channel(
    http: httpx.AsyncClient, room: str
) -> None:
    poster = bearer(grant("bob", post=[room]))
    for text in ("one", "two"):
        await http.post(f"/rooms/{room}/messages/", data={"text": text}, headers=poster)
    last = {"Grip-Last": f"t-messages-{room}; last-id=1", "Accept": "*/*"}
    response = await http.get(
        f"/rooms/{room}/messages/expiry/12345/?recover=true", headers={**last, **grip_sig()}
    )
    assert response.status_code == 200
    assert "event: stream-open" not in response.text and '"text":"two"' in response.text
    headers = grip_headers(response)
    assert headers["grip-channel"].endswith(", t-expiry-12345")
    assert "/expiry/12345/?recover=true" in headers["grip-link"]


async def test_grip_last_without_a_valid_sig_gains_nothing(
    http: httpx.AsyncClient, room: str
) -> None:
    last = {"Grip-Last": f"t-messages-{room}; last-id=0", "Accept": "*/*"}
    forged = grip_sig(key="not-the-proxy-key-but-long-enough-0000")
    for path in (f"/rooms/{room}/messages/?recover=true", f"/rooms/{room}/messages/expiry/1/"):
        for headers in (last, {**last, **forged}):
            response = await http.get(path, headers=headers)
            assert response.status_code in (401, 404), (path, headers)
            assert not grip_headers(response)


async def test_an_expired_token_opens_no_stream(http: httpx.AsyncClient, room: str) -> None:
    token = hs256(sub="old", exp=int(time.time()) - 1, rooms={"read": [room]})
    response = await http.get(
        f"/rooms/{room}/messages/", headers={**SSE, **grip_sig(), **bearer(token)}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].endswith('error="invalid_token"')
