"""The templates on their own: hostile context values stay escaped, no inline script at all."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader

TEMPLATES = Path(__file__).resolve().parents[3] / "src/flychat/entrypoints/templates"
HOSTILE = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>{{7*7}}"


@pytest.fixture
def env() -> Environment:
    # Litestar's JinjaTemplateEngine builds its Environment with autoescape=True, like this.
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)


def _render(env: Environment, name: str, **context: object) -> str:
    return env.get_template(name).render(**context)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def _assert_safe(html: str) -> None:
    parsed = _Elements()
    parsed.feed(html)
    tags = [tag for tag, _ in parsed.tags]
    assert "img" not in tags
    scripts = [attrs for tag, attrs in parsed.tags if tag == "script"]
    assert len(scripts) == 1 and re.fullmatch(r"/static/[a-z-]+\.js", scripts[0]["src"] or "")
    assert parsed.script_text.strip() == "", "no inline script"
    handlers = [name for _, attrs in parsed.tags for name in attrs if name.startswith("on")]
    assert handlers == [], "no inline event handlers"


def test_chat_page_escapes_everything_and_passes_data_in_attributes(env: Environment) -> None:
    message = {
        "id": 7,
        "provisionalId": "0b0a9c8e-2f0e-4d7c-9a51-2f3f4b5c6d7e",
        "from": HOSTILE,
        "text": HOSTILE + "\nsecond line",
        "date": "2026-11-27T21:00:00.123Z",
    }
    html = _render(
        env,
        "chat.html",
        room="lobby",
        user=HOSTILE,
        messages=[message],
        last_id=7,
        max_text_length=4000,
    )
    _assert_safe(html)
    escaped = "&#34;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f'data-user="{escaped}' in html
    assert 'data-room="lobby" ' in html and 'data-last-id="7" ' in html
    assert 'data-max-text-length="4000"' in html
    assert '<li class="msg mine" data-id="7" ' in html
    assert 'datetime="2026-11-27T21:00:00.123Z"' in html


def test_own_messages_are_marked_mine(env: Environment) -> None:
    message = {"id": 1, "provisionalId": "abcdefgh", "from": "bob", "text": "hi", "date": "x"}
    html = _render(
        env, "chat.html", room="r", user="bob", messages=[message], last_id=1, max_text_length=9
    )
    assert '<li class="msg mine" data-id="1"' in html
    other = _render(
        env, "chat.html", room="r", user="alice", messages=[message], last_id=1, max_text_length=9
    )
    assert '<li class="msg" data-id="1"' in other


def test_join_page_escapes_the_prefill_and_the_error(env: Environment) -> None:
    html = _render(env, "join.html", room="lobby", user=HOSTILE, error=f"Nickname {HOSTILE}")
    _assert_safe(html)
    assert 'role="alert" >Nickname &#34;' in html
    assert 'action="/lobby"' in html
    hidden = _render(env, "join.html", room="lobby", user="", error=None)
    assert 'id="join-error" class="error" role="alert" hidden></p>' in hidden
