"""The chat in a real Chromium: chatting, reloading, escaping, failed posts, scrolling, joining."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.browser.appserver import ARTIFACTS, AppServer
from tests.e2e.browser.chat import ChatPage, api_history, api_post, wait_until

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]


def _is_stream(request: Any) -> bool:
    return request.method == "GET" and "lastEventId=" in request.url


def _is_post(request: Any) -> bool:
    return request.method == "POST" and "/messages/" in request.url


def test_two_users_chat_in_two_pages(app: AppServer, open_chat: OpenChat) -> None:
    room = "general"  # the only test of this module (and its fresh store) to use it
    api_post(app.base_url, room, "carol", "Morning all! Release train leaves at 11:00.")
    alice = open_chat(app.base_url, room, "alice")
    bob = open_chat(app.base_url, room, "bob", phone=True)

    alice.send("Hi Bob! Did the deploy go through?")
    assert bob.wait_message("Hi Bob! Did the deploy go through?")["from"] == "alice"
    bob.send("It did ✓\nAll green on the dashboard.")
    alice.wait_message("It did ✓\nAll green on the dashboard.")
    api_post(app.base_url, room, "carol", "Nice! I'll post the release notes after lunch.")
    alice.send("Great, thanks both!")
    bob.wait_message("Great, thanks both!")

    shown = alice.wait_in_sync()
    assert bob.wait_in_sync() == shown
    assert [m["id"] for m in shown] == [1, 2, 3, 4, 5]
    assert alice.page.locator("li.msg.mine").count() == 2
    assert bob.page.locator("li.msg.mine").count() == 1
    assert alice.state() == bob.state() == "connected"
    assert alice.page.locator("#status").inner_text() == "Connected"

    ARTIFACTS.mkdir(exist_ok=True)
    alice.page.set_viewport_size({"width": 880, "height": 600})
    alice.page.screenshot(path=str(ARTIFACTS / "chat-desktop.png"))
    bob.page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))


def test_reload_shows_the_same_history_without_duplicates(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    for i in range(3):
        api_post(app.base_url, room, "carol", f"history {i}")
    alice = open_chat(app.base_url, room, "alice")
    alice.send("mine before reload")
    before = alice.wait_in_sync()

    alice.reload()
    assert alice.wait_in_sync() == before
    alice.reload()
    assert alice.wait_in_sync() == before
    assert len({m["id"] for m in before}) == len(before) == 4


def test_stream_resumes_exactly_after_the_embedded_last_id(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    """A message posted after the page was rendered but before the stream opened shows once."""
    api_post(app.base_url, room, "carol", "rendered into the page")
    alice = open_chat(app.base_url, room, "alice", wait=False)
    held: list[Any] = []
    alice.context.route(lambda url: "lastEventId=" in url, lambda route: held.append(route))
    alice.page.goto(alice.url, wait_until="domcontentloaded")
    wait_until(lambda: held, what="the stream request", page=alice.page)
    assert "lastEventId=1" in held[0].request.url
    assert alice.messages()[0]["text"] == "rendered into the page"

    api_post(app.base_url, room, "carol", "posted before the stream opened")
    held[0].continue_()
    alice.context.unroute_all()
    alice.wait_state("connected")
    shown = alice.wait_in_sync()
    assert [m["text"] for m in shown] == [
        "rendered into the page",
        "posted before the stream opened",
    ]


XSS_NICK = '"><img src=x onerror=window.__xss=1>'
XSS_TEXT = '<script>window.__xss=2</script><img src=x onerror="window.__xss=3"><b>{{7*7}}</b>\''


def _assert_no_markup(chat: ChatPage) -> None:
    counts = chat.page.evaluate(
        """() => ({
          elements: document.querySelectorAll('#messages img, #messages script, #messages b,'
            + ' .bar img, .bar script').length,
          xss: typeof window.__xss,
        })"""
    )
    assert counts == {"elements": 0, "xss": "undefined"}


def test_xss_in_nickname_and_message_is_shown_as_text(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    mallory = open_chat(app.base_url, room, XSS_NICK)
    bob = open_chat(app.base_url, room, "bob")
    dialogs: list[str] = []
    for chat in (mallory, bob):
        chat.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    assert mallory.page.locator(".me").inner_text() == XSS_NICK
    assert mallory.page.evaluate("document.body.dataset.user") == XSS_NICK
    mallory.send(XSS_TEXT)
    shown = bob.wait_message(XSS_TEXT)
    assert shown["from"] == XSS_NICK
    mallory.wait_message(XSS_TEXT)

    bob.reload()  # now the same message comes from the server-rendered HTML
    assert bob.wait_message(XSS_TEXT)["from"] == XSS_NICK
    mallory.reload()
    assert mallory.wait_message(XSS_TEXT)["from"] == XSS_NICK
    for chat in (mallory, bob):
        _assert_no_markup(chat)
    assert api_history(app.base_url, room)[0]["text"] == XSS_TEXT
    assert dialogs == []


def test_invalid_nickname_from_the_url_is_shown_escaped_on_the_join_page(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    chat = open_chat(app.base_url, room, "x", wait=False)
    bad = "\u0001" + XSS_NICK
    response = chat.page.goto(f"{app.base_url}/{room}?user={quote(bad, safe='')}")
    assert response is not None and response.status == 400
    assert chat.page.locator("#join-error").is_visible()
    assert chat.page.input_value("#user") == bad
    assert chat.page.evaluate("typeof window.__xss") == "undefined"
    assert chat.page.locator("img").count() == 0


def test_failed_post_is_shown_and_retried_without_a_duplicate(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    alice = open_chat(app.base_url, room, "alice")
    bob = open_chat(app.base_url, room, "bob")
    aborted: list[str] = []

    def abort_first_post(route: Any) -> None:
        if _is_post(route.request) and not aborted:
            aborted.append(route.request.post_data_json["provisionalId"])
            route.abort("connectionfailed")
        else:
            route.fallback()

    alice.page.route("**/rooms/**", abort_first_post)
    alice.send("this one fails first")
    failed = alice.wait_message("this one fails first", status="failed")
    assert failed["provisionalId"] == aborted[0]
    item = alice.page.locator("li.msg[data-status=failed]")
    assert "network error" in item.locator(".msg-state").inner_text()
    assert bob.message("this one fails first") is None

    item.get_by_role("button", name="Retry").click()
    sent = alice.wait_message("this one fails first")
    assert sent["provisionalId"] == aborted[0]
    bob.wait_message("this one fails first")
    stored = api_history(app.base_url, room)
    assert [(m["text"], m["provisionalId"]) for m in stored] == [
        ("this one fails first", aborted[0])
    ]
    alice.wait_in_sync()
    bob.wait_in_sync()


def test_lost_response_then_retry_stores_the_message_once(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    """The POST reached the server but its answer was lost; the retry must not duplicate it."""
    alice = open_chat(app.base_url, room, "alice", wait=False)
    held: list[Any] = []
    answers: list[int] = []

    def route(route: Any) -> None:
        if _is_stream(route.request):
            held.append(route)  # keep alice's stream from confirming the message
        elif _is_post(route.request) and not answers:
            answers.append(route.fetch().status)  # the server stores it...
            route.fulfill(status=500, json={"error": "lost"})  # ...the browser never knows
        else:
            route.fallback()

    alice.context.route("**/*", route)
    alice.page.goto(alice.url)
    bob = open_chat(app.base_url, room, "bob")

    alice.send("did this arrive?")
    alice.wait_message("did this arrive?", status="failed")
    assert answers == [200]
    assert bob.wait_message("did this arrive?")["id"] == 1
    alice.page.get_by_role("button", name="Retry").click()
    assert alice.wait_message("did this arrive?")["id"] == 1

    for stream in held:
        stream.continue_()
    alice.context.unroute_all()
    alice.wait_state("connected")
    assert len(api_history(app.base_url, room)) == 1
    alice.wait_in_sync()
    bob.wait_in_sync()


def test_log_follows_new_messages_unless_the_user_scrolled_up(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    for i in range(40):
        api_post(app.base_url, room, "carol", f"filler message number {i}")
    alice = open_chat(app.base_url, room, "alice", phone=True)
    at_bottom = """() => { const l = document.getElementById('log');
        return l.scrollHeight - l.scrollTop - l.clientHeight < 2; }"""
    assert alice.page.evaluate(at_bottom)

    api_post(app.base_url, room, "carol", "while at the bottom")
    alice.wait_message("while at the bottom")
    wait_until(lambda: alice.page.evaluate(at_bottom), what="the log to follow")

    alice.page.evaluate("document.getElementById('log').scrollTop = 0")
    api_post(app.base_url, room, "carol", "while scrolled up")
    alice.wait_message("while scrolled up")
    assert alice.page.evaluate("document.getElementById('log').scrollTop") == 0
    jump = alice.page.locator("#jump")
    jump.wait_for(state="visible")
    jump.click()
    wait_until(lambda: alice.page.evaluate(at_bottom), what="the jump button to scroll down")
    assert jump.is_hidden()

    alice.page.evaluate("document.getElementById('log').scrollTop = 0")
    alice.send("my own message scrolls down")
    alice.wait_message("my own message scrolls down")
    wait_until(lambda: alice.page.evaluate(at_bottom), what="own message to scroll down")


def test_join_page_remembers_the_nickname_and_validates_the_room(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    chat = open_chat(app.base_url, room, "unused", wait=False)
    page = chat.page
    page.goto(f"{app.base_url}/{room}")
    assert page.input_value("#room") == room
    page.fill("#user", "  Zoë  ")
    for bad in ("static", "has space", "a/b", "é", ""):
        page.fill("#room", bad)
        page.get_by_role("button", name="Join chat").click()
        assert page.locator("#join-error").is_visible()
        assert page.url == f"{app.base_url}/{room}"
    page.fill("#room", f"{room}-B")
    page.get_by_role("button", name="Join chat").click()
    page.wait_for_url(f"{app.base_url}/{room}-B?user=Zo%C3%AB")
    assert page.locator(".me").inner_text() == "Zoë"
    chat.wait_state("connected")

    page.goto(f"{app.base_url}/{room}")
    assert page.input_value("#user") == "Zoë"
    page.fill("#user", "")
    page.get_by_role("button", name="Join chat").click()
    assert page.locator("#join-error").inner_text() == "Pick a nickname."


def test_rejected_post_can_be_edited_and_sent_again(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    alice = open_chat(app.base_url, room, "alice")
    rejected: list[str] = []

    def reject_first_post(route: Any) -> None:
        if _is_post(route.request) and not rejected:
            rejected.append(route.request.post_data_json["text"])
            body = {"error": "text: must not mention Mondays", "field": "text"}
            route.fulfill(status=400, json=body)
        else:
            route.fallback()

    alice.page.route("**/rooms/**", reject_first_post)
    alice.send("see you Monday")
    alice.wait_message("see you Monday", status="failed")
    item = alice.page.locator("li.msg[data-status=failed]")
    assert item.locator(".msg-state span").inner_text() == (
        "Not sent: text: must not mention Mondays"
    )
    assert item.get_by_role("button", name="Retry").count() == 0
    item.get_by_role("button", name="Edit").click()
    assert alice.messages() == []
    assert alice.page.input_value("#text") == "see you Monday"
    alice.page.locator("#text").press("Enter")
    alice.wait_message("see you Monday")
    assert [m["text"] for m in alice.wait_in_sync()] == ["see you Monday"]


def test_page_works_under_a_strict_content_security_policy(
    app: AppServer, room: str, open_chat: OpenChat
) -> None:
    """No inline script or style anywhere: the pages run with ``default-src 'self'``."""
    alice = open_chat(app.base_url, room, "alice", wait=False)
    violations: list[str] = []
    alice.page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )

    def strict(route: Any) -> None:
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": "default-src 'self'"}
        route.fulfill(response=response, headers=headers)

    alice.page.route(lambda url: "/static/" not in url and "/rooms/" not in url, strict)
    alice.goto()
    alice.send("still works")
    alice.wait_message("still works")
    alice.page.goto(f"{app.base_url}/{room}")
    assert alice.page.input_value("#user") == "alice"
    assert violations == []
