from datetime import UTC, datetime

from flychat.domain.model import Message
from flychat.domain.ordering import Sequencer


def msg(i: int) -> Message:
    return Message(i, f"pid-{i:05d}", "u", f"m{i}", datetime(2026, 1, 1, tzinfo=UTC))


def ids(messages: list[Message]) -> list[int]:
    return [m.id for m in messages]


def test_in_order_messages_pass_straight_through() -> None:
    seq = Sequencer(last_sent=0)
    assert ids(seq.accept([msg(1), msg(2)])) == [1, 2]
    assert not seq.has_gap and seq.last_sent == 2


def test_out_of_order_messages_wait_for_the_gap_to_fill() -> None:
    seq = Sequencer(last_sent=4)
    assert seq.accept([msg(6), msg(7)]) == []
    assert seq.has_gap
    assert ids(seq.accept([msg(5)])) == [5, 6, 7]
    assert not seq.has_gap


def test_duplicates_and_old_messages_are_dropped() -> None:
    seq = Sequencer(last_sent=3)
    assert ids(seq.accept([msg(2), msg(3), msg(4), msg(4), msg(5), msg(4)])) == [4, 5]


def test_overflowing_buffer_is_reported() -> None:
    seq = Sequencer(last_sent=0, max_buffer=3)
    seq.accept([msg(i) for i in range(2, 6)])
    assert seq.overflowing
