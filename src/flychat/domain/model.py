"""Value objects that validate themselves: room ids, drafts and stored messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flychat.domain.errors import InvalidInput, InvalidRoom

RESERVED_ROOMS = frozenset({"healthz", "readyz", "metrics", "schema", "static"})
MAX_ID = 2**62

_ROOM_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PROVISIONAL_RE = re.compile(r"[A-Za-z0-9-]{8,64}")
_DIGITS_RE = re.compile(r"[0-9]+")
MAX_SENDER_LENGTH = 64
DEFAULT_MAX_TEXT_LENGTH = 4000


@dataclass(frozen=True, slots=True)
class RoomId:
    """A room name: 1-64 of ``A-Z a-z 0-9 _ -``, not a reserved path name."""

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not _ROOM_RE.fullmatch(self.value):
            raise InvalidRoom("must be 1-64 characters from A-Z a-z 0-9 _ -")
        if self.value in RESERVED_ROOMS:
            raise InvalidRoom(f"'{self.value}' is a reserved name")

    def __str__(self) -> str:
        return self.value


_CONTROLS = r"\x00-\x1f\x7f-\x9f\ud800-\udfff"
FORBIDDEN_ANYWHERE = re.compile(f"[{_CONTROLS}]")
FORBIDDEN_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
"""The controls but tab and newline (one character class: no lookahead per character)."""
FORBIDDEN_AROUND_NAME = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
"""The controls but tab, newline and carriage return."""


def _check_chars(field: str, value: str, forbidden: re.Pattern[str]) -> None:
    found = forbidden.search(value)
    if found is None:
        return
    code = ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        raise InvalidInput(field, "contains a lone surrogate (invalid Unicode)")
    raise InvalidInput(field, f"contains the control character U+{code:04X}")


def validate_sender(raw: object) -> str:
    """Return the trimmed sender name, or raise InvalidInput for field ``from``."""
    if not isinstance(raw, str):
        raise InvalidInput("from", "is required and must be a string")
    _check_chars("from", raw, FORBIDDEN_AROUND_NAME)
    sender = raw.strip()
    if not sender:
        raise InvalidInput("from", "must not be empty")
    if len(sender) > MAX_SENDER_LENGTH:
        raise InvalidInput("from", f"must be at most {MAX_SENDER_LENGTH} characters")
    _check_chars("from", sender, FORBIDDEN_ANYWHERE)
    return sender


def validate_text(raw: object, max_length: int = DEFAULT_MAX_TEXT_LENGTH) -> str:
    """Return the text with CRLF normalised to LF, or raise InvalidInput for field ``text``."""
    if not isinstance(raw, str):
        raise InvalidInput("text", "is required and must be a string")
    text = raw.replace("\r\n", "\n")
    if not text.strip():
        raise InvalidInput("text", "must not be empty or only whitespace")
    if len(text) > max_length:
        raise InvalidInput("text", f"must be at most {max_length} characters")
    _check_chars("text", text, FORBIDDEN_IN_TEXT)
    return text


def validate_provisional_id(raw: object) -> str:
    """Return a client-chosen provisional id, or raise InvalidInput for ``provisionalId``."""
    if not isinstance(raw, str) or not _PROVISIONAL_RE.fullmatch(raw):
        raise InvalidInput("provisionalId", "must be 8-64 characters from A-Z a-z 0-9 -")
    return raw


def parse_position(raw: str | None) -> int | None:
    """Parse a resume position: ASCII digits only, else None (absent). Huge values clamp."""
    if raw is None or not _DIGITS_RE.fullmatch(raw):
        return None
    if len(raw) > 19:
        return MAX_ID
    return min(int(raw), MAX_ID)


def to_millis(moment: datetime) -> datetime:
    """Return the moment in UTC, truncated to whole milliseconds."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    if utc.microsecond % 1000 == 0:
        return utc
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def format_date(moment: datetime) -> str:
    """Format as ISO 8601 UTC with milliseconds and ``Z``."""
    u = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return u.isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated message that has no id yet."""

    provisional_id: str
    sender: str
    text: str
    date: datetime
    user: str | None = None
    """The token ``sub`` of the sender when posted with a token; None in open mode."""


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message: its ``id`` is the room's gapless sequence number."""

    id: int
    provisional_id: str
    sender: str
    text: str
    date: datetime
    user: str | None = None

    @classmethod
    def from_draft(cls, message_id: int, draft: Draft) -> Message:
        """The message that ``draft`` becomes once stored with ``message_id``."""
        return cls(
            message_id, draft.provisional_id, draft.sender, draft.text, draft.date, draft.user
        )

    def came_from(self, draft: Draft) -> bool:
        """True when this is what ``draft`` became (not an earlier post's message)."""
        return (
            self.provisional_id == draft.provisional_id
            and self.date == draft.date
            and self.sender == draft.sender
            and self.text == draft.text
            and self.user == draft.user
        )


@dataclass(frozen=True, slots=True)
class Page:
    """Messages (oldest first) read together with the room's last id at that moment."""

    messages: tuple[Message, ...]
    last_id: int


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sends an ephemeral event: the presence ``key``, the shown name, the token's ``sub``.

    In open mode ``key`` is the trimmed ``from`` and ``user`` is None.
    """

    key: str
    name: str
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Member:
    """A room's present member as the presence store keeps it."""

    room: RoomId
    key: str
    name: str
    user: str | None
    last_seen: datetime
