"""The HTML pages: redirect, join page, chat page with escaped server-side history."""

from __future__ import annotations

import re

import httpx
import markupsafe
import pytest

XSS = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>"


async def test_root_redirects_to_default_keeping_the_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/?user=bob&x=1")
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"] == "/default?user=bob&x=1"
    assert (await client.get("/")).headers["location"] == "/default"


async def test_join_page_without_user(client: httpx.AsyncClient, room: str) -> None:
    response = await client.get(f"/{room}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<form" in response.text and room in response.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/static/style.css", "/schema"])
async def test_reserved_paths_are_never_rooms(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code in (200, 301, 302, 307, 308)
    assert "<form" not in response.text


@pytest.mark.parametrize("bad", ["a.b", "x" * 65, "static", "a%20b", "Ω"])
async def test_bad_or_reserved_room_pages_are_404(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get(f"/{bad}?user=bob", headers={"Accept": "text/html"})
    assert response.status_code == 404


async def test_invalid_nickname_shows_the_join_page_with_an_error(
    client: httpx.AsyncClient, room: str
) -> None:
    response = await client.get(f"/{room}", params={"user": "  "})
    assert response.status_code == 400
    assert "<form" in response.text and "Nickname" in response.text


async def test_chat_page_renders_history_escaped_with_the_last_id(
    client: httpx.AsyncClient, room: str
) -> None:
    for text in ("first", XSS, "a & b < c"):
        response = await client.post(f"/rooms/{room}/messages/", data={"from": XSS, "text": text})
        assert response.status_code == 200
    page = await client.get(f"/{room}", params={"user": XSS})
    assert page.status_code == 200
    body = page.text
    assert "<script>alert(1)" not in body and "<img src=x" not in body
    assert str(markupsafe.escape(XSS)) in body
    assert "a &amp; b &lt; c" in body
    assert re.search(r'data-last-id="3"', body)
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", body, re.S)
    assert all(XSS not in block and "alert" not in block for block in inline)


async def test_static_assets_are_served_by_the_app(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/chat.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "cdn" not in response.text.lower()


async def test_not_found_page_is_html_and_escaped(client: httpx.AsyncClient) -> None:
    response = await client.get("/<script>x", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>x" not in response.text and "/default" in response.text
