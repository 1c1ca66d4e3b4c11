from datetime import UTC, datetime, timedelta, timezone

import pytest

from flychat.domain.errors import InvalidInput, InvalidRoom
from flychat.domain.model import (
    MAX_ID,
    RoomId,
    format_date,
    parse_position,
    to_millis,
    validate_provisional_id,
    validate_sender,
    validate_text,
)


@pytest.mark.parametrize("name", ["a", "default", "A-b_9", "x" * 64, "Healthz", "STATIC"])
def test_valid_room_ids(name: str) -> None:
    assert RoomId(name).value == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * 65,
        "a b",
        "a/b",
        "é",
        "a.b",
        "healthz",
        "readyz",
        "metrics",
        "schema",
        "static",
        "room\n",
    ],
)
def test_invalid_room_ids(name: str) -> None:
    with pytest.raises(InvalidRoom) as caught:
        RoomId(name)
    assert caught.value.field == "room"


def test_sender_is_trimmed_then_checked() -> None:
    assert validate_sender("  alice \t") == "alice"
    assert validate_sender(" " + "x" * 64 + " ") == "x" * 64
    assert validate_sender("\tbob\r\n") == "bob"
    for bad in [
        "",
        "   ",
        "x" * 65,
        "a\nb",
        "a\tb",
        "a\x00",
        "a\x7f",
        "a\x85",
        "\x1fbob",
        "\ud800",
        None,
        3,
    ]:
        with pytest.raises(InvalidInput) as caught:
            validate_sender(bad)
        assert caught.value.field == "from"


def test_text_rules() -> None:
    assert validate_text("a\r\nb") == "a\nb"
    assert validate_text("  hi\tthere\n") == "  hi\tthere\n"
    assert validate_text("é" * 4000) == "é" * 4000
    assert validate_text("😀" * 10, max_length=10) == "😀" * 10
    for bad in ["", " \n\t ", "x" * 4001, "a\rb", "a\x00", "a\x1b[0m", "\x7f", "\x9f", "a\udc00"]:
        with pytest.raises(InvalidInput) as caught:
            validate_text(bad)
        assert caught.value.field == "text"


def test_text_limit_is_configurable() -> None:
    assert validate_text("abc", max_length=3) == "abc"
    with pytest.raises(InvalidInput):
        validate_text("abcd", max_length=3)


def test_provisional_id_rules() -> None:
    assert validate_provisional_id("abcdefgh") == "abcdefgh"
    assert validate_provisional_id("0b0c6a49-4a8d-4a5e-8b35-b1f0f3e1d6a2")
    for bad in ["short", "x" * 65, "has space1", "under_score", "ünïcode-x", 12345678]:
        with pytest.raises(InvalidInput) as caught:
            validate_provisional_id(bad)
        assert caught.value.field == "provisionalId"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        ("0", 0),
        ("007", 7),
        (" 7", None),
        ("+7", None),
        ("-1", None),
        ("7a", None),
        ("", None),
        (None, None),
        ("٣", None),
        ("9" * 40, MAX_ID),
    ],
)
def test_parse_position(raw: str | None, expected: int | None) -> None:
    assert parse_position(raw) == expected


def test_dates_are_utc_milliseconds() -> None:
    moment = datetime(2026, 11, 27, 22, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert to_millis(moment) == datetime(2026, 11, 27, 21, 0, 0, 123000, tzinfo=UTC)
    assert format_date(moment) == "2026-11-27T21:00:00.123Z"


def test_format_date_keeps_four_digit_years_and_whole_milliseconds() -> None:
    assert (
        format_date(datetime(999, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == "0999-01-02T03:04:05.999Z"
    )
    assert format_date(datetime(2026, 12, 1, tzinfo=UTC)) == "2026-12-01T00:00:00.000Z"
