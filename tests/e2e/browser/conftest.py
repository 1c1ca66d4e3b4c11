"""Fixtures for the browser tests: Debian's Chromium driven by Playwright, a real app process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.appserver import ARTIFACTS, AppServer
from tests.e2e.browser.chat import ChatPage
from tests.support.services import missing_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module."""
    if not CHROMIUM.exists():
        missing_service(f"Chromium not found at {CHROMIUM} (Debian package 'chromium')")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("playwright for Python is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[AppServer]:
    """A ``flychat serve`` process on SQLite, shared by the tests of one module."""
    db = tmp_path_factory.mktemp("browser") / "chat.db"
    server = AppServer(f"sqlite:///{db}", name=request.module.__name__.rsplit(".", 1)[-1])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def room(request: pytest.FixtureRequest) -> str:
    """A fresh room name for each test."""
    return f"{request.node.name[:40].replace('[', '-').strip(']')}-{uuid.uuid4().hex[:6]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


def _save_failure(name: str, pages: list[ChatPage]) -> None:
    folder = ARTIFACTS / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    for i, chat in enumerate(pages):
        stem = folder / f"{name[:80]}-{i}-{chat.user[:20]}"
        try:
            chat.page.screenshot(path=str(stem.with_suffix(".png")))
            lines = [f"{chat.page.url} state={chat.state()}", *map(str, chat.messages())]
            stem.with_suffix(".txt").write_text("\n".join(lines) + "\n")
        except Exception as exc:  # the page may be gone; keep what we can
            stem.with_suffix(".txt").write_text(f"could not capture: {exc}\n")


@pytest.fixture
def open_chat(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., ChatPage]]:
    """Open chat pages, each in its own browser context; fail on uncaught page errors.

    When the test fails, each page's screenshot and messages go to test-artifacts/failures/.
    """
    pages: list[ChatPage] = []

    def opener(
        base_url: str, room: str, user: str, *, phone: bool = False, wait: bool = True
    ) -> ChatPage:
        chat = ChatPage.open(browser, base_url, room, user, phone=phone, wait=wait)
        pages.append(chat)
        return chat

    yield opener
    if request.node.stash.get(_CALL_FAILED, False):
        _save_failure(request.node.name, pages)
    errors = [error for chat in pages for error in chat.page_errors]
    for chat in pages:
        chat.close()
    assert not errors, f"uncaught errors in the page: {errors}"
