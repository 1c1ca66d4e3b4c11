"""The documented rules say exactly what the domain accepts: same inputs, same verdicts."""

from __future__ import annotations

import re

import msgspec
from hypothesis import example, given
from hypothesis import strategies as st

from flychat.domain.errors import InvalidInput
from flychat.domain.model import (
    RESERVED_ROOMS,
    RoomId,
    validate_provisional_id,
    validate_sender,
    validate_text,
)
from flychat.domain.presence import parse_flag
from flychat.entrypoints.openapi.shapes import (
    FLAG_PATTERN,
    OPTIONAL_PROVISIONAL_PATTERN,
    PROVISIONAL_PATTERN,
    ROOM_PATTERN,
    SENDER_PATTERN,
    TEXT_PATTERN,
    new_message_shapes,
)

TRICKY = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA1), 0x2028, 0x3000, 0xFEFF])) + " aZ9_-."
texts = st.text(alphabet=st.sampled_from(TRICKY), max_size=70) | st.text(max_size=70)


def accepts(rule: object, value: str) -> bool:
    try:
        rule(value)  # type: ignore[operator]
    except InvalidInput:
        return False
    return True


@given(texts)
@example(" \t alice \r\n")
@example("a" * 64)
@example(" " + "a" * 64 + " ")
@example("a" * 65)
@example("a\tb")
@example("\x1c a")
@example("\xa0a\u3000")
def test_sender_pattern_matches_the_domain(value: str) -> None:
    assert bool(re.fullmatch(SENDER_PATTERN, value)) == accepts(validate_sender, value)


@given(texts)
@example("hi\r\nyou")
@example("cr\ronly")
@example("\r\r\n")
@example(" \n\t ")
@example("tab\tok\n")
@example("bell\x07")
def test_text_pattern_matches_the_domain(value: str) -> None:
    assert bool(re.fullmatch(TEXT_PATTERN, value)) == accepts(
        lambda v: validate_text(v, max_length=10_000), value
    )


ROOMS = st.text(alphabet=st.sampled_from("aZ9_-./ é"), max_size=66)


@given(ROOMS | st.sampled_from(sorted(RESERVED_ROOMS)))
def test_room_pattern_and_reserved_names_match_the_domain(value: str) -> None:
    documented = bool(re.fullmatch(ROOM_PATTERN, value)) and value not in RESERVED_ROOMS
    assert documented == accepts(RoomId, value)


@given(st.text(alphabet=st.sampled_from("aZ9-_ é"), max_size=66))
@example("")
@example("x" * 8)
@example("x" * 64)
def test_provisional_id_pattern_matches_the_domain(value: str) -> None:
    documented = bool(re.fullmatch(OPTIONAL_PROVISIONAL_PATTERN, value))
    assert documented == (value == "" or accepts(validate_provisional_id, value))


FLAGS = st.text(
    alphabet=st.sampled_from("tRuEfAlsYnO10 \t\n\x1c\x85\xa0\u3000\ufeffxİ"), max_size=9
)


@given(FLAGS | st.sampled_from(["true", "FALSE", "On", "off", "yes", "No", "1", "0"]))
@example("")
@example(" ")
@example(" true\u3000")
@example("\ufefftrue")
@example("tru")
def test_flag_pattern_matches_the_domain(value: str) -> None:
    documented = bool(re.fullmatch(FLAG_PATTERN, value))
    assert documented == accepts(lambda v: parse_flag("typing", v, default=True), value)


def test_the_post_body_shape_reads_what_the_server_accepts() -> None:
    form, as_json = new_message_shapes(10)
    ok = {"from": " alice ", "text": "hi\r\n", "provisionalId": "pid-12345"}
    assert msgspec.convert(ok, form) is not None
    assert msgspec.convert({"from": "a", "text": "x", "provisionalId": ""}, form) is not None
    assert msgspec.convert({"from": "a", "text": "x", "provisionalId": None}, as_json) is not None
    for bad in ({"from": "a"}, {"from": "a", "text": "x" * 11}, {**ok, "provisionalId": "short"}):
        try:
            msgspec.convert(bad, form)
        except msgspec.ValidationError:
            continue
        raise AssertionError(f"{bad} should not match the documented body")
    assert re.fullmatch(PROVISIONAL_PATTERN, "pid-12345")
