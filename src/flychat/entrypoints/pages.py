"""The HTML pages: the join page and the chat page with server-rendered history."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from flychat.bootstrap import Services
from flychat.domain.access import Caller, NotAuthenticated
from flychat.domain.errors import InvalidInput, InvalidRoom
from flychat.domain.model import RoomId, validate_sender
from flychat.domain.wire import message_fields
from flychat.entrypoints.auth import INSUFFICIENT_SCOPE, authenticate
from flychat.entrypoints.http import services_of
from flychat.entrypoints.openapi import operations as docs
from flychat.entrypoints.openapi.document import documented


@get("/", operation_class=documented(docs.INDEX))
async def index(request: Request[Any, Any, Any]) -> Redirect:
    """Send visitors to the default room, keeping the query string."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return Redirect("/default" + (f"?{query}" if query else ""), status_code=302)


@get("/{room:str}", operation_class=documented(docs.ROOM_PAGE))
async def room_page(request: Request[Any, Any, Any], room: FromPath[str], state: State) -> Template:
    """The join page, or with ``?user=NAME`` the chat page with recent history.

    With auth on: the chat page for a signed-in reader (403 without ``read``), else the
    sign-in page; ``?user=`` is ignored.
    """
    try:
        room_id = RoomId(room)
    except InvalidRoom as exc:
        raise NotFoundException(f"no such room: {exc.reason}") from None
    services = services_of(state)
    if services.verifier is not None:
        return await _signed_in_page(request, services, room_id)
    raw_user = request.query_params.get("user")
    if raw_user is None:
        return Template("join.html", context={"room": room_id.value, "user": "", "error": None})
    try:
        user = validate_sender(raw_user)
    except InvalidInput as exc:
        context = {"room": room_id.value, "user": raw_user, "error": f"Nickname {exc.reason}."}
        return Template("join.html", context=context, status_code=400)
    return await _chat_page(services, room_id, user, None)


async def _chat_page(
    services: Services, room: RoomId, user: str, caller: Caller | None
) -> Template:
    page = await services.chat.history(room)
    context = {
        "room": room.value,
        "user": user,
        "sub": caller.sub if caller else "",
        "auth": caller is not None,
        "can_post": caller is None or caller.may("post", room),
        "messages": [message_fields(m) for m in page.messages],
        "last_id": page.last_id,
        "max_text_length": services.settings.max_text_length,
        "presence_ttl": services.settings.presence_ttl,
    }
    return Template("chat.html", context=context)


async def _signed_in_page(
    request: Request[Any, Any, Any], services: Services, room: RoomId
) -> Template:
    signin = {"room": room.value, "next": f"/{room}", "error": None}
    try:
        caller = authenticate(services, request)
    except NotAuthenticated as exc:
        if exc.token_given:
            signin["error"] = f"You are signed out ({exc.reason}). Sign in again."
        return Template("signin.html", context=signin)
    assert caller is not None
    if caller.expired(time.time()):
        signin["error"] = "You are signed out (the token has expired). Sign in again."
        return Template("signin.html", context=signin)
    if not caller.may("read", room):
        context = {"status": 403, "message": f"{caller.name} may not read #{room}."}
        headers = {"WWW-Authenticate": INSUFFICIENT_SCOPE}
        return Template("error.html", context=context, status_code=403, headers=headers)
    return await _chat_page(services, room, caller.name, caller)


PAGE_HANDLERS = [index, room_page]
