"""The browser client with identity and access on: sign in, chat as the token, expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.browser.appserver import AppServer
from tests.e2e.browser.chat import ChatPage, wait_until
from tests.support.tokens import SECRET, grant, hs256

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    db = tmp_path_factory.mktemp("browser-auth") / "chat.db"
    env = {"FLYCHAT_AUTH_SECRET": SECRET, "FLYCHAT_AUTH_LEEWAY_SECONDS": "0"}
    server = AppServer(f"sqlite:///{db}", name="test_auth", env=env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pages(browser: Any) -> Iterator[list[ChatPage]]:
    opened: list[ChatPage] = []
    yield opened
    errors = [error for chat in opened for error in chat.page_errors]
    for chat in opened:
        chat.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_in(browser: Any, pages: list[ChatPage], app: AppServer, room: str, token: str) -> ChatPage:
    """Open the room, paste the token into the sign-in page and wait for the live chat."""
    chat = ChatPage.open(browser, app.base_url, room, "", wait=False)
    pages.append(chat)
    chat.page.goto(f"{app.base_url}/{room}?user=mallory")
    assert chat.page.locator("#user").count() == 0
    chat.page.fill("#token", token)
    chat.page.click("#signin button[type=submit]")
    chat.page.wait_for_url(f"{app.base_url}/{room}")
    chat.wait_state("connected")
    return chat


def stored(app: AppServer, room: str) -> list[dict[str, Any]]:
    token = grant("auditor", read=[room], post=[])
    response = httpx.get(
        f"{app.base_url}/rooms/{room}/messages/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def test_sign_in_through_the_page_and_chat_as_the_token(
    browser: Any, pages: list[ChatPage], auth_app: AppServer, room: str
) -> None:
    token = grant("alice-1", name="Alice Liddell", read=[room], post=[room])
    alice = sign_in(browser, pages, auth_app, room, token)
    assert alice.page.locator(".bar-user .me").inner_text() == "Alice Liddell"
    assert "mallory" not in alice.page.content()
    alice.send("Hello from a signed-in page")
    alice.wait_message("Hello from a signed-in page")
    assert alice.page.locator("li.msg.mine").count() == 1
    [message] = stored(auth_app, room)
    assert (message["from"], message["user"]) == ("Alice Liddell", "alice-1")

    bob = sign_in(browser, pages, auth_app, room, grant("bob-2", read=[room], post=[room]))
    shown = bob.wait_message("Hello from a signed-in page")
    assert shown["from"] == "Alice Liddell"
    assert bob.page.locator("li.msg.mine").count() == 0
    bob.send("Hi Alice")
    alice.wait_message("Hi Alice")
    assert alice.message("Hi Alice") is not None
    assert [m["from"] for m in stored(auth_app, room)] == ["Alice Liddell", "bob-2"]


def test_a_bad_token_stays_on_the_sign_in_page(
    browser: Any, pages: list[ChatPage], auth_app: AppServer, room: str
) -> None:
    chat = ChatPage.open(browser, auth_app.base_url, room, "", wait=False)
    pages.append(chat)
    chat.page.goto(f"{auth_app.base_url}/{room}")
    chat.page.fill("#token", "not a token")
    chat.page.click("#signin button[type=submit]")
    error = chat.page.locator("#signin-error")
    error.wait_for(state="visible")
    assert "Not signed in" in error.inner_text()
    assert chat.page.context.cookies() == []


def test_token_expiring_mid_chat_says_signed_out(
    browser: Any, pages: list[ChatPage], auth_app: AppServer, room: str
) -> None:
    exp = int(time.time()) + 8
    token = hs256(sub="carol", exp=exp, rooms={"read": [room], "post": [room]})
    carol = sign_in(browser, pages, auth_app, room, token)
    carol.send("before expiry")
    carol.wait_message("before expiry")
    banner = carol.page.locator("#signed-out")
    wait_until(banner.is_visible, timeout=exp - time.time() + 20, what="the signed-out notice")
    assert time.time() >= exp
    assert "signed out" in banner.inner_text().lower()
    assert "sign in again" in banner.inner_text().lower()
    assert carol.state() == "signed-out"
    streams: list[str] = []
    carol.page.on("request", lambda r: streams.append(r.url) if "lastEventId" in r.url else None)
    carol.page.wait_for_timeout(3000)
    assert streams == [], "the page keeps retrying the stream after signing out"
    assert carol.page.locator("#text").is_disabled()


def test_a_401_on_send_says_signed_out(
    browser: Any, pages: list[ChatPage], auth_app: AppServer, room: str
) -> None:
    dave = sign_in(browser, pages, auth_app, room, grant("dave", read=[room], post=[room]))
    dave.page.context.clear_cookies()
    dave.send("after the cookie is gone")
    dave.page.locator("#signed-out").wait_for(state="visible")
    found = dave.wait_message("after the cookie is gone", status="failed")
    assert found["from"] == "dave"
    assert stored(auth_app, room) == []
