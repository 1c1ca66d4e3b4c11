"""A chat page in Chromium, seen the way a test needs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

T = TypeVar("T")

DESKTOP = {"width": 1000, "height": 680}
PHONE = {"width": 390, "height": 760}

_SNAPSHOT = """() => [...document.querySelectorAll('#messages > li.msg')].map(li => ({
  id: li.dataset.id ? Number(li.dataset.id) : null,
  provisionalId: li.dataset.provisionalId,
  from: li.querySelector('.msg-from').textContent,
  text: li.querySelector('.msg-text').textContent,
  status: li.dataset.status,
}))"""


def wait_until(
    check: Callable[[], T], timeout: float = 10.0, what: str = "condition", page: Any = None
) -> T:
    """Poll ``check`` until it returns something truthy; fail with the last value.

    Pass ``page`` when ``check`` makes no Playwright call: waiting on the page lets
    Playwright run its event handlers (routes, dialogs) meanwhile.
    """
    deadline = time.monotonic() + timeout
    value = check()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        if page is not None:
            page.wait_for_timeout(50)
        else:
            time.sleep(0.05)
        value = check()
    return value


def api_history(base_url: str, room: str) -> list[dict[str, Any]]:
    """The room's stored messages, from the JSON API."""
    response = httpx.get(f"{base_url}/rooms/{room}/messages/", params={"limit": 500}, timeout=5)
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def api_post(base_url: str, room: str, sender: str, text: str) -> dict[str, Any]:
    """Post a message through the API, as another client would."""
    response = httpx.post(
        f"{base_url}/rooms/{room}/messages/", json={"from": sender, "text": text}, timeout=5
    )
    response.raise_for_status()
    message: dict[str, Any] = response.json()
    return message


class ChatPage:
    """One user's chat page in its own browser context."""

    def __init__(self, context: Any, page: Any, base_url: str, room: str, user: str) -> None:
        self.context = context
        self.page = page
        self.base_url = base_url
        self.room = room
        self.user = user
        self.page_errors: list[str] = []
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    @classmethod
    def open(
        cls,
        browser: Any,
        base_url: str,
        room: str,
        user: str,
        *,
        phone: bool = False,
        wait: bool = True,
    ) -> ChatPage:
        """Open ``/{room}?user=...`` and, unless told not to, wait until the stream is open."""
        context = browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
            locale="en-GB",
            timezone_id="Europe/Paris",
        )
        context.set_default_timeout(10_000)
        chat = cls(context, context.new_page(), base_url, room, user)
        if wait:
            chat.goto()
        return chat

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.room}?user={quote(self.user, safe='')}"

    def goto(self) -> None:
        self.page.goto(self.url)
        self.wait_state("connected")

    def reload(self) -> None:
        self.page.reload()
        self.wait_state("connected")

    def state(self) -> str:
        return str(self.page.get_attribute("#status", "data-state"))

    def wait_state(self, *states: str, timeout: float = 10.0) -> str:
        return wait_until(
            lambda: (s := self.state()) in states and s, timeout, f"state in {states}"
        )

    def send(self, text: str) -> None:
        """Type ``text`` (newlines with Shift+Enter) and press Enter."""
        box = self.page.locator("#text")
        box.click()
        for i, line in enumerate(text.split("\n")):
            if i:
                box.press("Shift+Enter")
            box.press_sequentially(line)
        box.press("Enter")

    def messages(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.evaluate(_SNAPSHOT)
        return result

    def message(self, text: str) -> dict[str, Any] | None:
        return next((m for m in self.messages() if m["text"] == text), None)

    def wait_message(
        self, text: str, status: str = "sent", timeout: float = 10.0
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.message(text)
            return found if found and found["status"] == status else None

        return wait_until(check, timeout, f"{text!r} shown as {status} to {self.user}")

    def wait_in_sync(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the page shows exactly the stored history: same ids, order, text."""

        def stored() -> list[tuple[Any, ...]]:
            return [
                (m["id"], m["provisionalId"], m["from"], m["text"], "sent")
                for m in api_history(self.base_url, self.room)
            ]

        def check() -> list[dict[str, Any]] | None:
            shown = self.messages()
            seen = [(m["id"], m["provisionalId"], m["from"], m["text"], m["status"]) for m in shown]
            return shown if seen == stored() else None

        try:
            return wait_until(check, timeout, f"{self.user}'s page to match the stored history")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nstored: {stored()}") from None

    def close(self) -> None:
        self.context.close()
