"""Token validation with PyJWT: every reason a token is refused, and the cache."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from flychat.adapters.tokens import JwtVerifier, issue_token
from flychat.domain.access import NotAuthenticated
from flychat.domain.model import RoomId
from tests.support.tokens import SECRET, claims, ec_pair, hs256, rsa_pair


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def verifier(clock: Clock | None = None, **kwargs: Any) -> JwtVerifier:
    if "public_key" not in kwargs:
        kwargs.setdefault("secret", SECRET)
    return JwtVerifier(clock=clock or time.time, **kwargs)


def refused(check: JwtVerifier, token: str) -> str:
    with pytest.raises(NotAuthenticated) as caught:
        check.verify(token)
    assert caught.value.token_given
    return caught.value.reason


def test_valid_hs256_token_gives_the_caller() -> None:
    token = hs256(sub="alice", name="Alice", rooms={"read": ["lobby"], "post": []})
    caller = verifier().verify(token)
    assert (caller.sub, caller.name) == ("alice", "Alice")
    assert caller.may("read", RoomId("lobby")) and not caller.may("post", RoomId("lobby"))


def test_rs256_and_es256_with_a_public_key() -> None:
    rsa_key, rsa_pem = rsa_pair()
    ec_key, ec_pem = ec_pair()
    rs = jwt.encode(claims(sub="r"), rsa_key, algorithm="RS256")
    es = jwt.encode(claims(sub="e"), ec_key, algorithm="ES256")
    assert verifier(public_key=rsa_pem).verify(rs).sub == "r"
    assert verifier(public_key=ec_pem).verify(es).sub == "e"
    assert "algorithm" in refused(verifier(public_key=rsa_pem), es)
    other_key, _ = rsa_pair()
    forged = jwt.encode(claims(sub="r"), other_key, algorithm="RS256")
    assert "signature" in refused(verifier(public_key=rsa_pem), forged)


def test_an_hs256_token_signed_with_the_public_key_text_is_refused() -> None:
    _, pem = rsa_pair()
    forged = jwt.encode(claims(), "x" * 40, algorithm="HS256")
    assert "algorithm" in refused(verifier(public_key=pem), forged)


def test_wrong_secret() -> None:
    assert "signature" in refused(verifier(), hs256(secret="another-secret-of-at-least-32-bytes!"))


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "e30.e30", "x" * 300])
def test_malformed(token: str) -> None:
    assert "invalid" in refused(verifier(), token)


def test_alg_none_is_refused() -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    assert "algorithm" in refused(verifier(), token)


def test_exp_is_required() -> None:
    token = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
    assert refused(verifier(), token) == "claim 'exp' is required"


def test_exp_must_be_a_number() -> None:
    token = jwt.encode({"sub": "alice", "exp": "tomorrow"}, SECRET, algorithm="HS256")
    assert "exp" in refused(verifier(), token)


def test_sub_is_required() -> None:
    token = jwt.encode({"exp": time.time() + 60}, SECRET, algorithm="HS256")
    assert refused(verifier(), token) == "claim 'sub' is required"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"sub": "x" * 65}, "claim 'sub' must be at most 64"),
        ({"sub": "   "}, "claim 'sub' must not be empty"),
        ({"name": "a\nb"}, "claim 'name' contains the control character"),
        ({"name": ""}, "claim 'name' must not be empty"),
    ],
)
def test_claim_rules_through_a_signed_token(extra: dict[str, Any], reason: str) -> None:
    assert refused(verifier(), hs256(**extra)).startswith(reason)


def test_expired_after_the_leeway_only() -> None:
    clock = Clock()
    check = verifier(clock, leeway_seconds=30)
    token = hs256(ttl=0)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    clock.now = exp + 29.9
    assert check.verify(token).sub == "alice"
    clock.now = exp + 30
    assert refused(check, token) == "the token has expired"


def test_no_leeway_expires_at_exp() -> None:
    clock = Clock()
    token = hs256(ttl=100)
    check = verifier(clock, leeway_seconds=0)
    clock.now = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert refused(check, token) == "the token has expired"


def test_not_before_with_leeway() -> None:
    clock = Clock()
    check = verifier(clock, leeway_seconds=5)
    token = hs256(nbf=int(clock.now) + 60)
    assert refused(check, token) == "the token is not valid yet (nbf)"
    clock.now += 56
    assert check.verify(token).sub == "alice"


def test_nbf_must_be_a_number() -> None:
    assert refused(verifier(), hs256(nbf="later")).startswith("claim 'nbf'")


def test_issuer_checked_when_configured() -> None:
    check = verifier(issuer="https://id.example")
    assert check.verify(hs256(iss="https://id.example")).sub == "alice"
    assert refused(check, hs256(iss="https://evil.example")) == "the token's issuer (iss) is wrong"
    assert refused(check, hs256()) == "claim 'iss' is required"
    assert verifier().verify(hs256(iss="anyone")).sub == "alice"


def test_audience_checked_when_configured() -> None:
    check = verifier(audience="flychat")
    assert check.verify(hs256(aud="flychat")).sub == "alice"
    assert check.verify(hs256(aud=["other", "flychat"])).sub == "alice"
    assert refused(check, hs256(aud="other")) == "the token's audience (aud) is wrong"
    assert refused(check, hs256()) == "claim 'aud' is required"
    assert verifier().verify(hs256(aud="whatever")).sub == "alice"


def test_cached_tokens_still_expire() -> None:
    clock = Clock()
    check = verifier(clock, leeway_seconds=0)
    token = hs256(ttl=10)
    assert check.verify(token).sub == "alice"
    clock.now += 11
    assert refused(check, token) == "the token has expired"


def test_a_tampered_token_is_not_served_from_the_cache() -> None:
    check = verifier()
    token = hs256()
    check.verify(token)
    head, body, sig = token.split(".")
    assert "signature" in refused(check, f"{head}.{body}.{sig[:-4]}AAAA")


def test_short_secret_and_bad_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtVerifier(secret="short")
    with pytest.raises(ValueError, match="PEM"):
        JwtVerifier(public_key="not a key")
    _, p384 = ec_pair(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        JwtVerifier(public_key=p384)


def test_issue_token_round_trips() -> None:
    token = issue_token(SECRET, "bob", name="Bob", read=["a"], post=["team-*"], ttl_seconds=60)
    caller = verifier().verify(token)
    assert (caller.sub, caller.name) == ("bob", "Bob")
    assert caller.may("read", RoomId("a")) and caller.may("post", RoomId("team-x"))
    assert not caller.may("read", RoomId("team-x"))
    assert time.time() + 55 < caller.expires <= time.time() + 61
