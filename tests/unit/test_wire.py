"""Wire encodings: the fast message and provisional encodings match the generic ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from flychat.domain.model import Draft, Message
from flychat.domain.wire import (
    _dumps,
    message_fields,
    message_json,
    provisional_fields,
    sse_event,
    sse_message,
    sse_provisional,
)

TEXTS = ["hi", 'é "quoted" \\ back\nline\ttab', "\u2028 \U0001f600 </script>", "\x7f~"]
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.mark.parametrize("text", TEXTS)
def test_message_json_is_the_generic_encoding(text: str) -> None:
    message = Message(3, "abcdefgh-1", "al ice", text, WHEN)
    assert message_json(message) == _dumps(message_fields(message))
    assert sse_message(message) == sse_event("message", message_fields(message), 3)


@pytest.mark.parametrize("text", TEXTS)
def test_provisional_event_is_the_generic_encoding(text: str) -> None:
    draft = Draft("abcdefgh-2", "bob", text, WHEN)
    assert sse_provisional(draft) == sse_event("message", provisional_fields(draft))


def test_dates_in_other_zones_are_written_in_utc() -> None:
    local = WHEN.astimezone(timezone(timedelta(hours=5, minutes=30)))
    message = Message(1, "abcdefgh-3", "al", "x", local)
    assert '"date":"2026-01-02T03:04:05.678Z"' in message_json(message)


def test_a_signed_in_sender_carries_user_in_both_encodings() -> None:
    message = Message(4, "abcdefgh-4", "al", "x", WHEN, user="sub-1")
    draft = Draft("abcdefgh-4", "al", "x", WHEN, user="sub-1")
    assert message_json(message) == _dumps(message_fields(message))
    assert sse_provisional(draft) == sse_event("message", provisional_fields(draft))
