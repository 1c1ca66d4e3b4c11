"""The HTTP shapes as msgspec Structs: what the API sends and reads, with the rules of SPEC 1."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from flychat.domain.messages import MAX_PAGE_LIMIT
from flychat.domain.model import MAX_SENDER_LENGTH, RESERVED_ROOMS

_CONTROLS = r"\x00-\x1f\x7f-\x9f"
_TEXT_CONTROLS = r"\x00-\x08\x0b-\x1f\x7f-\x9f"
_TEXT_CHAR = rf"(?:[^{_TEXT_CONTROLS}]|\r\n)"
_AROUND_NAME = rf"(?:[\t\n\r]|[^\S{_CONTROLS}])*"
_NAME_EDGE = rf"[^\s{_CONTROLS}]"

ROOM_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
PROVISIONAL_PATTERN = r"^[A-Za-z0-9-]{8,64}$"
OPTIONAL_PROVISIONAL_PATTERN = r"^(?:[A-Za-z0-9-]{8,64})?$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
SENDER_PATTERN = (
    rf"^{_AROUND_NAME}{_NAME_EDGE}"
    rf"(?:[^{_CONTROLS}]{{0,{MAX_SENDER_LENGTH - 2}}}{_NAME_EDGE})?{_AROUND_NAME}$"
)
TEXT_PATTERN = rf"^{_TEXT_CHAR}*[^\s{_CONTROLS}]{_TEXT_CHAR}*$"
_SPACE = r"[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_FLAG_WORD = "|".join(
    "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)
    for word in ("true", "false", "1", "0", "yes", "no", "on", "off")
)
FLAG_PATTERN = rf"^(?:{_SPACE}*(?:{_FLAG_WORD}){_SPACE}*)?$"

RoomName = Annotated[
    str,
    Meta(
        pattern=ROOM_PATTERN,
        description="1-64 characters from A-Z a-z 0-9 _ -, case-sensitive, "
        f"not one of the reserved names {', '.join(sorted(RESERVED_ROOMS))}.",
        examples=["default"],
        extra_json_schema={"not": {"enum": sorted(RESERVED_ROOMS)}},
    ),
]
Position = Annotated[int, Meta(ge=0)]
PageLimit = Annotated[int, Meta(ge=1, le=MAX_PAGE_LIMIT)]
ProvisionalId = Annotated[
    str, Meta(pattern=PROVISIONAL_PATTERN, description="8-64 characters from A-Z a-z 0-9 -.")
]
Sender = Annotated[
    str,
    Meta(
        pattern=SENDER_PATTERN,
        description=f"Trimmed of surrounding whitespace, then 1-{MAX_SENDER_LENGTH} characters "
        "(Unicode code points) with no control character and no lone surrogate.",
        examples=["alice"],
    ),
]

FormFlag = Annotated[
    str,
    Meta(
        pattern=FLAG_PATTERN,
        description="true/false, 1/0, yes/no or on/off in any case, surrounding whitespace "
        "ignored; empty means the default.",
        examples=["true", "false"],
    ),
]
JsonFlag = bool | FormFlag | None
"""In JSON also `true`/`false`, and `null` for the default."""


class Message(Struct, rename={"provisional_id": "provisionalId", "sender": "from"}):
    """A stored message; `id` is the room's gapless sequence number."""

    id: Annotated[int, Meta(ge=1)]
    provisional_id: ProvisionalId
    sender: Annotated[str, Meta(min_length=1, max_length=MAX_SENDER_LENGTH)]
    text: Annotated[str, Meta(min_length=1)]
    date: Annotated[str, Meta(pattern=DATE_PATTERN, description="UTC, ISO 8601 with ms and Z.")]


class HistoryPage(Struct, rename={"last_event_id": "lastEventId"}):
    """Messages oldest first, read together with the room's last id (0 for an empty room)."""

    messages: list[Message]
    last_event_id: Annotated[int, Meta(ge=0)]


class Error(Struct, forbid_unknown_fields=True):
    """An error that names no field: a framework error, a body that cannot be read, a 5xx."""

    error: str


class FieldError(Struct, forbid_unknown_fields=True):
    """A value that breaks a rule: `error` is `"{field}: {reason}"`."""

    error: str
    field: str
    reason: str


class Health(Struct):
    """The process answers."""

    status: Literal["ok"]


class Ready(Struct):
    """The store answers."""

    status: Literal["ready"]


class TypingBody(Struct):
    """The typing POST body (form or multipart)."""

    sender: Sender = msgspec.field(name="from")
    typing: FormFlag | UnsetType = UNSET


class TypingBodyJson(Struct):
    """The typing POST body in JSON: `typing` is also a JSON boolean or `null`."""

    sender: Sender = msgspec.field(name="from")
    typing: JsonFlag | UnsetType = UNSET


class PresenceBody(Struct):
    """The presence POST body (form or multipart): a heartbeat, or `leave`."""

    sender: Sender = msgspec.field(name="from")
    leave: FormFlag | UnsetType = UNSET


class PresenceBodyJson(Struct):
    """The presence POST body in JSON: `leave` is also a JSON boolean or `null`."""

    sender: Sender = msgspec.field(name="from")
    leave: JsonFlag | UnsetType = UNSET


class PresentMember(Struct, kw_only=True, forbid_unknown_fields=True):
    """A member seen within `FLYCHAT_PRESENCE_TTL` seconds; `user` only when signed in."""

    sender: Annotated[str, Meta(min_length=1, max_length=MAX_SENDER_LENGTH)] = msgspec.field(
        name="from"
    )
    user: str | UnsetType = UNSET
    last_seen: Annotated[
        str, Meta(pattern=DATE_PATTERN, description="The last heartbeat, UTC, ISO 8601 with ms.")
    ] = msgspec.field(name="lastSeen")


class PresenceList(Struct, forbid_unknown_fields=True):
    """The room's present members sorted by `from`, and how many there are."""

    members: list[PresentMember]
    count: Annotated[int, Meta(ge=0)]


@cache
def new_message_shapes(max_text_length: int) -> tuple[type[Struct], type[Struct]]:
    """The POST body for forms and for JSON (where `null` also means no provisionalId)."""
    text = Annotated[
        str,
        Meta(
            min_length=1,
            max_length=max_text_length,
            pattern=TEXT_PATTERN,
            description=f"1-{max_text_length} characters (counted after CRLF becomes LF), "
            "not only whitespace; no control character except LF and tab (CRLF is stored as LF), "
            "no lone surrogate.",
            examples=["hi there"],
        ),
    ]
    form_pid = Annotated[
        str,
        Meta(
            pattern=OPTIONAL_PROVISIONAL_PATTERN,
            description="8-64 characters from A-Z a-z 0-9 -; empty counts as absent "
            "(the server generates one).",
            examples=["7d6f2c1e-5b8a-4f3e-9c2d-1a0b3e4f5a6b"],
        ),
    ]
    json_pid = form_pid | None
    rename = {"sender": "from", "provisional_id": "provisionalId"}
    form = msgspec.defstruct(
        "NewMessage",
        [("sender", Sender), ("text", text), ("provisional_id", form_pid | UnsetType, UNSET)],
        rename=rename,
    )
    as_json = msgspec.defstruct(
        "NewMessageJson",
        [("sender", Sender), ("text", text), ("provisional_id", json_pid | UnsetType, UNSET)],
        rename=rename,
    )
    return form, as_json


def json_schema(annotation: Any) -> dict[str, Any]:
    """The JSON Schema of a plain (non-Struct) annotation, inline."""
    schema: dict[str, Any] = msgspec.json.schema(annotation)
    return schema
