"""Who is here, who is typing, and older messages, in a real Chromium."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.browser.appserver import AppServer
from tests.e2e.browser.chat import ChatPage, api_post, wait_until

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]
TTL = 30


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app on SQLite with a 30 s presence TTL (so a quick departure proves the beacon)."""
    db = tmp_path_factory.mktemp("presence") / "chat.db"
    env = {"FLYCHAT_PRESENCE_TTL": str(TTL), "FLYCHAT_PRESENCE_SWEEP_SECONDS": "1"}
    server = AppServer(f"sqlite:///{db}", name="test_presence", env=env)
    server.start()
    yield server
    server.stop()


def here(chat: ChatPage) -> tuple[str, str]:
    return (
        chat.page.inner_text("#presence-count"),
        chat.page.inner_text("#presence-names"),
    )


def typing_text(chat: ChatPage) -> str | None:
    visible = chat.page.locator("#typing").is_visible()
    return chat.page.inner_text("#typing") if visible else None


def test_two_pages_see_each_other_arrive_and_leave(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    alice = open_chat(app.base_url, room, "alice")
    assert alice.page.get_attribute("body", "data-presence-ttl") == str(TTL)
    bob = open_chat(app.base_url, room, "bob")
    wait_until(lambda: here(alice) == ("2", "alice, bob"), what="alice sees bob arrive")
    wait_until(lambda: here(bob) == ("2", "alice, bob"), what="bob sees alice")
    carol = open_chat(app.base_url, room, "carol")
    wait_until(lambda: here(alice) == ("3", "alice, bob, carol"), what="carol's arrival")
    carol.page.goto("about:blank")
    wait_until(lambda: here(alice) == ("2", "alice, bob"), 8, "carol's departure (beacon)")
    wait_until(lambda: here(bob) == ("2", "alice, bob"), 8, "bob sees carol leave")
    listed = httpx.get(f"{app.base_url}/rooms/{room}/presence", timeout=5).json()
    assert [m["from"] for m in listed["members"]] == ["alice", "bob"]


def test_typing_indicator_appears_and_disappears(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    alice = open_chat(app.base_url, room, "alice")
    bob = open_chat(app.base_url, room, "bob")
    box = bob.page.locator("#text")
    box.click()
    box.press_sequentially("hel")
    wait_until(lambda: typing_text(alice) == "bob is typing…", what="bob typing")
    assert typing_text(bob) is None
    box.press_sequentially("lo")
    box.press("Enter")
    alice.wait_message("hello")
    wait_until(lambda: typing_text(alice) is None, 3, "indicator hidden after the message")

    box.press_sequentially("again")
    wait_until(lambda: typing_text(alice) == "bob is typing…", what="bob typing again")
    box.blur()
    wait_until(lambda: typing_text(alice) is None, 3, "indicator hidden on blur")

    httpx.post(f"{app.base_url}/rooms/{room}/typing", data={"from": "carol"}, timeout=5)
    wait_until(lambda: typing_text(alice) == "carol is typing…", what="carol typing")
    wait_until(lambda: typing_text(alice) is None, 9, "carol's indicator expired after 6 s")


def test_typing_is_sent_at_most_every_2_seconds_and_stops_after_5_idle(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    bob = open_chat(app.base_url, room, "bob")
    sent: list[tuple[float, bool]] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/typing"):
            sent.append((time.monotonic(), json.loads(request.post_data)["typing"]))

    bob.page.on("request", record)
    box = bob.page.locator("#text")
    box.click()
    started = time.monotonic()
    box.press_sequentially("a steady typist keeps going for about five s", delay=110)
    stopped = time.monotonic()
    wait_until(lambda: any(not typing for _, typing in sent), 12, "typing: false", bob.page)
    trues = [at for at, typing in sent if typing]
    assert 2 <= len(trues) <= int((stopped - started) / 2) + 1, sent
    assert all(b - a >= 1.9 for a, b in itertools.pairwise(trues)), sent
    idle = next(at for at, typing in sent if not typing) - stopped
    assert 4.5 <= idle <= 10, f"typing: false {idle:.1f} s after the last keystroke"


_TOP_OF = """(id) => document.querySelector(`li.msg[data-id="${id}"]`)
  .getBoundingClientRect().top"""
_SCROLL_UP_AND_TOP_OF = """(id) => {
  document.getElementById('log').scrollTop = 0;
  return document.querySelector(`li.msg[data-id="${id}"]`).getBoundingClientRect().top;
}"""


def test_older_messages_load_on_scroll_without_jumps(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    for n in range(1, 121):
        api_post(app.base_url, room, "carol", f"message {n}")
    alice = open_chat(app.base_url, room, "alice")
    shown = [m["id"] for m in alice.messages()]
    assert shown == list(range(71, 121))
    assert alice.page.locator("#older").is_visible()
    for oldest, expected_first in ((71, 21), (21, 1)):
        before = alice.page.evaluate(_SCROLL_UP_AND_TOP_OF, oldest)
        wait_until(
            lambda first=expected_first: alice.messages()[0]["id"] == first,
            what=f"older messages down to {expected_first}",
        )
        assert abs(alice.page.evaluate(_TOP_OF, oldest) - before) < 2, "the view jumped"
    assert [m["id"] for m in alice.messages()] == list(range(1, 121))
    assert not alice.page.locator("#older").is_visible()


@pytest.fixture(scope="module")
def short_ttl_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app with a 2 s presence TTL: pages heartbeat every second."""
    db = tmp_path_factory.mktemp("presence-ttl") / "chat.db"
    env = {"FLYCHAT_PRESENCE_TTL": "2", "FLYCHAT_PRESENCE_SWEEP_SECONDS": "0.5"}
    server = AppServer(f"sqlite:///{db}", name="test_presence_ttl", env=env)
    server.start()
    yield server
    server.stop()


_HIDE = """() => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
  document.dispatchEvent(new Event('visibilitychange'));
}"""


def test_visible_pages_heartbeat_every_ttl_half_and_hidden_ones_stop(
    short_ttl_app: AppServer, room: str, open_chat: OpenChat
) -> None:
    alice = open_chat(short_ttl_app.base_url, room, "alice")
    bob = open_chat(short_ttl_app.base_url, room, "bob")
    beats: list[float] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/presence"):
            beats.append(time.monotonic())

    alice.page.on("request", record)
    seen_by_bob: list[str] = []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        seen_by_bob.append(here(bob)[1])
        bob.page.wait_for_timeout(100)
    assert set(seen_by_bob) == {"alice, bob"}, "alice flickered out while her page was open"
    assert 3 <= len(beats) <= 6, beats
    alice.page.evaluate(_HIDE)
    hidden_at = time.monotonic()
    wait_until(lambda: here(bob) == ("1", "bob"), 10, "alice expired once hidden", bob.page)
    assert not [at for at in beats if at > hidden_at + 0.2], "a hidden page kept heartbeating"
