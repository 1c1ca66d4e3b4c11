"""Typing and presence over HTTP: thin handlers around the Presence service."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from flychat.domain.access import Action, Caller
from flychat.domain.model import RoomId, Sender, validate_sender
from flychat.domain.presence import parse_flag
from flychat.domain.wire import roster_fields
from flychat.entrypoints.auth import authenticate, authorize, check_cross_site
from flychat.entrypoints.bodies import body_fields
from flychat.entrypoints.http import services_of
from flychat.entrypoints.openapi import operations as docs
from flychat.entrypoints.openapi.document import documented

TYPING_PATH = "/rooms/{room:str}/typing"
PRESENCE_PATH = "/rooms/{room:str}/presence"


def sender_of(fields: dict[str, object], caller: Caller | None) -> Sender:
    """Who is speaking: signed in, keyed by the token's ``sub`` with its name (``from``
    ignored); open mode, the trimmed ``from`` is both the key and the name.

    The one place that decides a sender's identity for typing and presence.
    """
    if caller is not None:
        return Sender(key=caller.sub, name=caller.name, user=caller.sub)
    name = validate_sender(fields.get("from"))
    return Sender(key=name, name=name, user=None)


def signed_in(
    request: Request[Any, Any, Any], state: State, room: str, action: Action
) -> tuple[RoomId | None, Caller | None]:
    """With auth on: the room and the caller allowed to ``action`` in it (401/403 first).

    Cookie-only POSTs from a foreign origin are refused as for messages.
    """
    services = services_of(state)
    caller = authenticate(services, request)
    if caller is None:
        return None, None
    room_id = RoomId(room)
    caller.require(action, room_id)
    check_cross_site(services, request)
    return room_id, caller


@post(TYPING_PATH, status_code=204, operation_class=documented(docs.SEND_TYPING))
async def send_typing(request: Request[Any, Any, Any], room: FromPath[str], state: State) -> None:
    """Say the sender is (or stopped) typing; repeats within 2 s send no new event."""
    room_id, caller = signed_in(request, state, room, "post")
    fields = await body_fields(request, services_of(state).settings.max_body_bytes)
    room_id = room_id or RoomId(room)
    sender = sender_of(fields, caller)
    typing = parse_flag("typing", fields.get("typing"), default=True)
    services_of(state).presence.typing(room_id, sender, typing)


@post(PRESENCE_PATH, status_code=200, operation_class=documented(docs.SEND_PRESENCE))
async def send_presence(
    request: Request[Any, Any, Any], room: FromPath[str], state: State
) -> dict[str, Any]:
    """A heartbeat (present for the TTL), or ``leave=true``; answers the room's members."""
    room_id, caller = signed_in(request, state, room, "read")
    fields = await body_fields(request, services_of(state).settings.max_body_bytes)
    room_id = room_id or RoomId(room)
    sender = sender_of(fields, caller)
    leave = parse_flag("leave", fields.get("leave"), default=False)
    presence = services_of(state).presence
    if leave:
        members = await presence.leave(room_id, sender)
    else:
        members = await presence.heartbeat(room_id, sender)
    return roster_fields(members)


@get(PRESENCE_PATH, operation_class=documented(docs.READ_PRESENCE))
async def read_presence(
    request: Request[Any, Any, Any], room: FromPath[str], state: State
) -> dict[str, Any]:
    """The room's members seen within the TTL, sorted by ``from`` (needs ``read`` with auth)."""
    room_id = RoomId(room)
    authorize(services_of(state), request, room_id, "read")
    return roster_fields(await services_of(state).presence.members(room_id))


PRESENCE_HANDLERS = [send_typing, send_presence, read_presence]
