"""The chat in Chromium through a real Pushpin (GRIP mode): app restarts drop no page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.browser.appserver import AppServer
from tests.e2e.browser.chat import ChatPage, api_post
from tests.support.pushpin import free_port, running_pushpin

pytestmark = [pytest.mark.browser, pytest.mark.pushpin]

OpenChat = Callable[..., ChatPage]


def test_pages_behind_pushpin_survive_an_app_restart(
    tmp_path: Path, room: str, open_chat: OpenChat
) -> None:
    port = free_port()
    with running_pushpin(port) as pushpin:
        env = {"GRIP_URL": pushpin.grip_url, "FLYCHAT_DIRECT_STREAMING": "false"}
        app = AppServer(f"sqlite:///{tmp_path / 'chat.db'}", name="grip", port=port, env=env)
        app.start()
        try:
            alice = open_chat(pushpin.url, room, "alice")
            bob = open_chat(pushpin.url, room, "bob", phone=True)
            alice.send("through the proxy")
            bob.wait_message("through the proxy")
            bob.send("loud and clear")
            alice.wait_message("loud and clear")

            app.stop()
            alice.send("while the app is down")
            alice.wait_message("while the app is down", status="failed")
            assert alice.state() == bob.state() == "connected"  # Pushpin holds the streams

            app.start()
            alice.page.get_by_role("button", name="Retry").click()
            bob.wait_message("while the app is down")
            api_post(pushpin.url, room, "carol", "after the restart")
            shown = alice.wait_in_sync()
            assert bob.wait_in_sync() == shown
            assert [m["id"] for m in shown] == [1, 2, 3, 4]
            assert alice.state() == bob.state() == "connected"
        finally:
            app.stop()
