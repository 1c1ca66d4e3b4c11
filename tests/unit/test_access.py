"""Grants and callers: exact, prefix and ``*`` entries; post does not imply read."""

from __future__ import annotations

import pytest

from flychat.domain.access import (
    Caller,
    Grants,
    NotAllowed,
    NotAuthenticated,
    caller_from_claims,
    expiry_slot,
)
from flychat.domain.model import RoomId

R = RoomId


@pytest.mark.parametrize(
    ("entries", "room", "allowed"),
    [
        (["lobby"], "lobby", True),
        (["lobby"], "lobby-2", False),
        (["lobby"], "Lobby", False),
        (["team-*"], "team-red", True),
        (["team-*"], "team-", True),
        (["team-*"], "team", False),
        (["team-*"], "other-team-red", False),
        (["*"], "anything", True),
        ([], "lobby", False),
        (["", "lob"], "lobby", False),
    ],
)
def test_entries_match_exact_prefix_and_star(entries: list[str], room: str, allowed: bool) -> None:
    grants = Grants.from_claim({"read": entries, "post": entries})
    assert grants.allows("read", R(room)) is allowed
    assert grants.allows("post", R(room)) is allowed


def test_post_does_not_imply_read_nor_read_post() -> None:
    grants = Grants.from_claim({"post": ["a"], "read": ["b"]})
    assert grants.allows("post", R("a")) and not grants.allows("read", R("a"))
    assert grants.allows("read", R("b")) and not grants.allows("post", R("b"))


@pytest.mark.parametrize(
    "rooms",
    [
        None,
        "lobby",
        ["lobby"],
        {"read": "lobby"},
        {"read": [1, None, {"x": 1}]},
        {},
        {"write": ["*"]},
    ],
)
def test_missing_or_malformed_rooms_grant_nothing(rooms: object) -> None:
    grants = Grants.from_claim(rooms)
    assert not grants.allows("read", R("lobby")) and not grants.allows("post", R("lobby"))


def test_caller_defaults_name_to_sub_and_trims() -> None:
    caller = caller_from_claims({"sub": " alice ", "exp": 100})
    assert (caller.sub, caller.name, caller.expires) == ("alice", "alice", 100.0)
    named = caller_from_claims({"sub": "a1", "name": " Alice L. ", "exp": 1.5})
    assert named.name == "Alice L."


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": 1}, "claim 'sub' is required"),
        ({"sub": "", "exp": 1}, "claim 'sub' must not be empty"),
        ({"sub": "   ", "exp": 1}, "claim 'sub' must not be empty"),
        ({"sub": "x" * 65, "exp": 1}, "claim 'sub' must be at most 64"),
        ({"sub": 42, "exp": 1}, "claim 'sub' is required and must be a string"),
        ({"sub": "a\x00b", "exp": 1}, "claim 'sub' contains the control character U+0000"),
        ({"sub": "a", "name": "", "exp": 1}, "claim 'name' must not be empty"),
        ({"sub": "a", "name": "n" * 65, "exp": 1}, "claim 'name' must be at most 64"),
        ({"sub": "a", "name": "bad\x7f", "exp": 1}, "claim 'name' contains the control"),
        ({"sub": "a", "name": ["x"], "exp": 1}, "claim 'name' is required and must be"),
        ({"sub": "a"}, "claim 'exp' is required"),
        ({"sub": "a", "exp": "soon"}, "claim 'exp' is required"),
        ({"sub": "a", "exp": True}, "claim 'exp' is required"),
    ],
)
def test_claim_rules(claims: dict[str, object], reason: str) -> None:
    with pytest.raises(NotAuthenticated) as caught:
        caller_from_claims(claims)
    assert caught.value.reason.startswith(reason)
    assert caught.value.token_given


def test_require_raises_not_allowed_naming_action_and_room() -> None:
    caller = Caller("a", "a", Grants(read=("x",)), 10.0)
    caller.require("read", R("x"))
    with pytest.raises(NotAllowed) as caught:
        caller.require("post", R("x"))
    assert (caught.value.action, caught.value.room) == ("post", R("x"))


def test_expired_at_exp_exactly() -> None:
    caller = Caller("a", "a", Grants(), 100.0)
    assert not caller.expired(99.999) and caller.expired(100.0)


def test_expiry_slot_is_the_boundary_at_or_after_exp() -> None:
    assert expiry_slot(60.0, 30) == 2
    assert expiry_slot(60.5, 30) == 3
    assert expiry_slot(89.9, 30) == 3
