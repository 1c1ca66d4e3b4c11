"""The HTTP rules of identity that need no server: own origin, client address, next paths."""

from __future__ import annotations

import ipaddress

import pytest

from flychat.entrypoints.auth import client_address, origin_allowed
from flychat.entrypoints.session import local_path

LISTED = ("https://app.example",)


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("https://chat.example", "chat.example", True),
        ("http://chat.example", "chat.example", True),
        ("https://chat.example", "chat.example:443", True),
        ("https://chat.example:8443", "chat.example:8443", True),
        ("https://chat.example:8443", "chat.example", True),
        ("http://127.0.0.1:9000", "127.0.0.1:8000", False),
        ("https://evil.example", "chat.example", False),
        ("https://chat.example.evil", "chat.example", False),
        ("https://app.example", "chat.example", True),
        ("https://APP.example/", "chat.example", True),
        ("null", "chat.example", False),
        ("file://", "chat.example", False),
        ("https://chat.example", None, False),
        ("http://[::1]:8000", "[::1]:8000", True),
    ],
)
def test_own_or_listed_origin(origin: str, host: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, host, LISTED) is allowed


TRUSTED = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "1.1.1.1, 198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),
        ("127.0.0.1", "10.9.9.9, 10.1.2.3", "10.9.9.9"),
        ("127.0.0.1", "garbage", "garbage"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str, forwarded: str | None, client: str
) -> None:
    assert client_address(peer, forwarded, TRUSTED) == client


def test_nothing_trusted_means_the_peer() -> None:
    assert client_address("127.0.0.1", "198.51.100.1", ()) == "127.0.0.1"


@pytest.mark.parametrize(
    ("raw", "target"),
    [
        ("/lobby", "/lobby"),
        ("/lobby?x=1#y", "/lobby?x=1#y"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("lobby", "/"),
        ("/a\r\nSet-Cookie: x", "/"),
        (None, "/"),
    ],
)
def test_next_must_be_a_local_path(raw: object, target: str) -> None:
    assert local_path(raw) == target
