"""GRIP_URL parsing, Grip-Sig validation, hold headers and Grip-Last parsing."""

from __future__ import annotations

import base64
import time

import jwt
import pytest

from flychat.adapters.grip.proxy import GripConfigError, parse_grip_url
from flychat.domain.model import RoomId
from flychat.entrypoints.grip.headers import hold_stream_headers, parse_grip_last
from flychat.entrypoints.grip.sig import GripSigValidator

PUSHPIN_KEY = "a-pushpin-signing-key-of-32-bytes!"
REALM_KEY = b"\x00\x01realm key bytes \xff\xfe 0123456789abcdefgh"
FANOUT_URL = (
    "https://api.fanout.io/realm/myrealm?iss=myrealm&key=base64:"
    + base64.b64encode(REALM_KEY).decode()
)


def token(key: str | bytes, *, exp_in: int = 60, iss: str = "pushpin") -> str:
    return jwt.encode({"iss": iss, "exp": int(time.time()) + exp_in}, key, algorithm="HS256")


def test_pushpin_url() -> None:
    proxy = parse_grip_url(f"http://127.0.0.1:5561?iss=pushpin&key={PUSHPIN_KEY}")
    assert proxy.control_uri == "http://127.0.0.1:5561"
    assert proxy.publish_url == "http://127.0.0.1:5561/publish/"
    assert proxy.issuer == "pushpin" and proxy.sig_key == PUSHPIN_KEY
    assert PUSHPIN_KEY not in repr(proxy)


def test_fanout_url_with_base64_key_signs_publishes_as_the_realm() -> None:
    proxy = parse_grip_url(FANOUT_URL)
    assert proxy.publish_url == "https://api.fanout.io/realm/myrealm/publish/"
    assert proxy.sig_key == REALM_KEY
    auth = proxy.authorization()
    assert auth is not None and auth.startswith("Bearer ")
    claims = jwt.decode(auth.removeprefix("Bearer "), REALM_KEY, algorithms=["HS256"])
    assert claims["iss"] == "myrealm" and claims["exp"] > time.time() + 600


def test_key_without_issuer_is_a_bearer_token() -> None:
    proxy = parse_grip_url("https://example.org/grip?key=sometoken")
    assert proxy.authorization() == "Bearer sometoken"


def test_non_http_url_is_refused() -> None:
    with pytest.raises(GripConfigError):
        parse_grip_url("tcp://127.0.0.1:5560")


def test_grip_sig_accepts_only_current_tokens_signed_with_a_configured_key() -> None:
    proxies = [
        parse_grip_url(f"http://127.0.0.1:5561?iss=pushpin&key={PUSHPIN_KEY}"),
        parse_grip_url(FANOUT_URL),
    ]
    validator = GripSigValidator(p.sig_key for p in proxies if p.sig_key is not None)
    assert validator.is_valid(token(PUSHPIN_KEY))
    assert validator.is_valid(token(REALM_KEY, iss="myrealm"))
    assert not validator.is_valid(token(PUSHPIN_KEY, exp_in=-5))
    assert not validator.is_valid(token("another key entirely, well over 32 bytes"))
    assert not validator.is_valid(jwt.encode({"iss": "pushpin"}, PUSHPIN_KEY))
    assert not validator.is_valid("not.a.jwt")
    assert not validator.is_valid("")
    assert not validator.is_valid(None)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5561",
        "http://127.0.0.1:5561?iss=pushpin&key=",
        "http://127.0.0.1:5561?iss=pushpin&key=base64:@@@",
    ],
)
def test_a_url_without_a_usable_key_is_refused(url: str) -> None:
    with pytest.raises(GripConfigError, match="key"):
        parse_grip_url(url)


def test_zmq_parameter_names_the_publish_input_and_leaves_the_rest_to_gripcontrol() -> None:
    key = "base64:" + base64.b64encode(REALM_KEY).decode()
    proxy = parse_grip_url(f"http://127.0.0.1:5561?iss=pushpin&zmq=tcp://127.0.0.1:5560&key={key}")
    assert proxy.zmq_uri == "tcp://127.0.0.1:5560"
    assert proxy.publish_url == "http://127.0.0.1:5561/publish/"
    assert proxy.issuer == "pushpin" and proxy.sig_key == REALM_KEY
    ipc = parse_grip_url(f"http://127.0.0.1:5561?iss=p&key={PUSHPIN_KEY}&zmq=ipc:///run/pp/in")
    assert ipc.zmq_uri == "ipc:///run/pp/in"
    assert parse_grip_url(FANOUT_URL).zmq_uri is None


@pytest.mark.parametrize(
    "zmq",
    [
        "tcp://10.0.0.5:5560",
        "tcp://pushpin.example.org:5560",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:99999",
        "http://127.0.0.1:5560",
        "ipc://",
    ],
)
def test_a_zmq_address_off_this_host_or_malformed_is_refused(zmq: str) -> None:
    with pytest.raises(GripConfigError, match="zmq="):
        parse_grip_url(f"http://127.0.0.1:5561?iss=pushpin&key={PUSHPIN_KEY}&zmq={zmq}")


def test_hold_headers() -> None:
    headers = hold_stream_headers(
        RoomId("lobby"), 42, prefix="fc-", keepalive_seconds=20, link_timeout_seconds=120
    )
    assert headers == {
        "Grip-Hold": "stream",
        "Grip-Channel": "fc-messages-lobby; prev-id=42, fc-provisional-lobby",
        "Grip-Keep-Alive": ": keep-alive\\n\\n; format=cstring; timeout=20",
        "Grip-Link": "</rooms/lobby/messages/?recover=true>; rel=next; timeout=120",
    }


def test_hold_headers_of_an_empty_room_and_sub_second_keepalive() -> None:
    headers = hold_stream_headers(RoomId("r"), 0, keepalive_seconds=0.3)
    assert headers["Grip-Channel"] == "messages-r; prev-id=0, provisional-r"
    assert headers["Grip-Keep-Alive"].endswith("timeout=1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("messages-r; last-id=7", 7),
        ("provisional-r; last-id=x, messages-r; last-id=12", 12),
        ('messages-r; last-id="3"', 3),
        ("messages-r;last-id=0", 0),
        ("messages-rr; last-id=7", None),
        ("messages-r; last-id=-1", None),
        ("messages-r; last-id=7a", None),
        ("messages-r", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_grip_last(value: str | None, expected: int | None) -> None:
    assert parse_grip_last(value, "messages-r") == expected


def test_a_remembered_grip_sig_still_expires_and_a_forged_one_is_still_refused() -> None:
    now = [time.time()]
    validator = GripSigValidator([PUSHPIN_KEY], clock=lambda: now[0])
    good = token(PUSHPIN_KEY, exp_in=30)
    assert validator.is_valid(good) and validator.is_valid(good)
    forged = good[: good.rindex(".") + 1] + "A" * 43
    assert not validator.is_valid(forged)
    now[0] += 31
    assert not validator.is_valid(good)


def test_many_distinct_tokens_keep_working_past_what_is_remembered() -> None:
    validator = GripSigValidator([PUSHPIN_KEY])
    tokens = [token(PUSHPIN_KEY, exp_in=60 + i) for i in range(600)]
    assert all(validator.is_valid(t) for t in tokens)
    assert all(validator.is_valid(t) for t in tokens[:10])


def test_grip_sig_signed_es256_validates_with_the_public_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signed = jwt.encode({"iss": "fanout", "exp": int(time.time()) + 60}, private, "ES256")
    assert GripSigValidator([PUSHPIN_KEY, public]).is_valid(signed)
    assert not GripSigValidator([public]).is_valid(token(PUSHPIN_KEY))
