"""Typing and presence over HTTP: thin handlers around the Presence service."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from flychat.domain.model import RoomId, Sender, validate_sender
from flychat.domain.presence import parse_flag
from flychat.domain.wire import roster_fields
from flychat.entrypoints.bodies import check_media_type, decode_fields
from flychat.entrypoints.http import services_of
from flychat.entrypoints.openapi import operations as docs
from flychat.entrypoints.openapi.document import documented

TYPING_PATH = "/rooms/{room:str}/typing"
PRESENCE_PATH = "/rooms/{room:str}/presence"


def sender_of(request: Request[Any, Any, Any], fields: dict[str, object]) -> Sender:
    """Who is speaking. Open mode: the trimmed ``from`` is both the key and the name.

    The one place that decides a sender's identity for typing and presence.
    """
    name = validate_sender(fields.get("from"))
    return Sender(key=name, name=name, user=None)


async def body_fields(request: Request[Any, Any, Any]) -> dict[str, object]:
    """The POST body's fields, checked like a message's: 413, then 415, then 400."""
    body = await request.body()
    content_type = request.headers.get("content-type")
    kind = check_media_type(content_type)
    return decode_fields(kind, content_type or "", body)


@post(TYPING_PATH, status_code=204, operation_class=documented(docs.SEND_TYPING))
async def send_typing(request: Request[Any, Any, Any], room: FromPath[str], state: State) -> None:
    """Say the sender is (or stopped) typing; repeats within 2 s send no new event."""
    fields = await body_fields(request)
    room_id = RoomId(room)
    sender = sender_of(request, fields)
    typing = parse_flag("typing", fields.get("typing"), default=True)
    services_of(state).presence.typing(room_id, sender, typing)


@post(PRESENCE_PATH, status_code=200, operation_class=documented(docs.SEND_PRESENCE))
async def send_presence(
    request: Request[Any, Any, Any], room: FromPath[str], state: State
) -> dict[str, Any]:
    """A heartbeat (present for the TTL), or ``leave=true``; answers the room's members."""
    fields = await body_fields(request)
    room_id = RoomId(room)
    sender = sender_of(request, fields)
    leave = parse_flag("leave", fields.get("leave"), default=False)
    presence = services_of(state).presence
    if leave:
        members = await presence.leave(room_id, sender)
    else:
        members = await presence.heartbeat(room_id, sender)
    return roster_fields(members)


@get(PRESENCE_PATH, operation_class=documented(docs.READ_PRESENCE))
async def read_presence(room: FromPath[str], state: State) -> dict[str, Any]:
    """The room's members seen within the TTL, sorted by ``from``."""
    return roster_fields(await services_of(state).presence.members(RoomId(room)))


PRESENCE_HANDLERS = [send_typing, send_presence, read_presence]
