"""The chat in a real Chromium when things go wrong: restarts, resets, refused streams, outages."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.appserver import AppServer
from tests.e2e.browser.chat import ChatPage, api_history, api_post, wait_until

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]


@pytest.fixture
def own_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[AppServer]:
    """An app process of this test alone, free to be stopped and restarted."""
    server = AppServer(f"sqlite:///{tmp_path / 'chat.db'}", name=request.node.name[:60])
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_server_restarted_mid_chat_loses_and_doubles_nothing(
    own_app: AppServer, room: str, open_chat: OpenChat, sig: int
) -> None:
    alice = open_chat(own_app.base_url, room, "alice")
    bob = open_chat(own_app.base_url, room, "bob", phone=True)
    alice.send("before the restart")
    bob.wait_message("before the restart")
    bob.send("me too")
    alice.wait_message("me too")

    own_app.stop(sig)
    alice.wait_state("reconnecting", "offline")
    bob.wait_state("reconnecting", "offline")
    alice.send("while the server is down")
    alice.wait_message("while the server is down", status="failed")

    own_app.start()
    api_post(own_app.base_url, room, "carol", "posted as soon as it was back")
    alice.wait_state("connected", timeout=15)
    bob.wait_state("connected", timeout=15)
    alice.page.get_by_role("button", name="Retry").click()
    alice.wait_message("while the server is down")
    bob.send("after the restart")

    shown = alice.wait_in_sync()
    assert bob.wait_in_sync() == shown
    assert [m["text"] for m in shown] == [
        "before the restart",
        "me too",
        "posted as soon as it was back",
        "while the server is down",
        "after the restart",
    ]


def test_stream_reset_clears_the_log_and_renders_what_follows(
    own_app: AppServer, room: str, open_chat: OpenChat
) -> None:
    for i in range(3):
        api_post(own_app.base_url, room, "carol", f"old message {i}")
    alice = open_chat(own_app.base_url, room, "alice")
    alice.send("old and mine")
    assert alice.wait_message("old and mine")["id"] == 4

    # The app comes back on an empty store (memory://) holding one message: alice's page has
    # seen id 4, the room's last id is now 1, so her stream resumes with a stream-reset.
    held: list[Any] = []
    alice.context.route(lambda url: "lastEventId=" in url, lambda route: held.append(route))
    own_app.stop()
    own_app.database_url = "memory://"
    own_app.start()
    api_post(own_app.base_url, room, "dora", "the only message in the new store")
    wait_until(lambda: held, what="alice's reconnection", page=alice.page)
    for route in held:
        route.continue_()
    alice.context.unroute_all()

    wait_until(
        lambda: [m["text"] for m in alice.messages()] == ["the only message in the new store"],
        what="the log to be re-rendered after stream-reset",
    )
    assert alice.page.locator("#notice").inner_text() == "The chat history was reset by the server."
    alice.wait_state("connected")
    alice.send("first after the reset")
    assert alice.wait_message("first after the reset")["id"] == 2
    alice.wait_in_sync()


def test_closed_stream_reconnects_with_backoff_from_the_last_durable_id(
    own_app: AppServer, room: str, open_chat: OpenChat
) -> None:
    alice = open_chat(own_app.base_url, room, "alice")
    alice.send("seen on the stream")
    alice.wait_message("seen on the stream")

    refused: list[str] = []

    def refuse(route: Any) -> None:
        refused.append(route.request.url)
        route.fulfill(status=502, content_type="text/plain", body="bad gateway")

    # A 502 makes the browser give up (readyState CLOSED): from then on the wrapper reconnects.
    alice.context.route(lambda url: "lastEventId=" in url, refuse)
    own_app.restart()
    alice.wait_state("reconnecting", "offline")
    wait_until(
        lambda: len(refused) >= 3, timeout=10, what="three refused attempts", page=alice.page
    )
    alice.wait_state("offline")
    api_post(own_app.base_url, room, "carol", "posted while alice was away")

    alice.context.unroute_all()
    alice.wait_state("connected", timeout=15)
    alice.wait_message("posted while alice was away")
    alice.wait_in_sync()
    # The browser's own retry reuses the page's URL (and sends Last-Event-ID, which Playwright's
    # route does not show); the wrapper's attempts carry the last durable id in the query.
    assert refused[0].endswith("?lastEventId=0")
    assert all(url.endswith("?lastEventId=1") for url in refused[1:])


def test_offline_and_back_online(app: AppServer, room: str, open_chat: OpenChat) -> None:
    alice = open_chat(app.base_url, room, "alice")
    bob = open_chat(app.base_url, room, "bob")
    alice.context.set_offline(True)
    alice.wait_state("offline")
    assert alice.page.locator("#status").inner_text() == "Offline"
    bob.send("sent while alice was offline")
    alice.context.set_offline(False)
    alice.wait_state("connected")
    alice.wait_message("sent while alice was offline")
    alice.wait_in_sync()


def test_retraction_when_storage_fails(own_app: AppServer, room: str, open_chat: OpenChat) -> None:
    alice = open_chat(own_app.base_url, room, "alice")
    bob = open_chat(own_app.base_url, room, "bob")
    alice.send("hello")
    bob.wait_message("hello")

    db = own_app.database_url.removeprefix("sqlite:///")
    lock = sqlite3.connect(db, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # the app's append waits for its busy timeout, then fails
        alice.send("this cannot be stored")
        bob.wait_message("this cannot be stored", status="pending")
        wait_until(
            lambda: bob.message("this cannot be stored") is None, timeout=15, what="the retraction"
        )
        notice = bob.page.locator("#notice")
        assert notice.inner_text() == "A message from alice could not be stored and was withdrawn."
        failed = alice.wait_message("this cannot be stored", status="failed")
    finally:
        lock.rollback()
        lock.close()

    alice.page.get_by_role("button", name="Retry").click()
    assert alice.wait_message("this cannot be stored")["provisionalId"] == failed["provisionalId"]
    bob.wait_message("this cannot be stored")
    alice.wait_in_sync()
    bob.wait_in_sync()
    assert len(api_history(own_app.base_url, room)) == 2
