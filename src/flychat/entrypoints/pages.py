"""The HTML pages: the join page and the chat page with server-rendered history."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from flychat.domain.errors import InvalidInput, InvalidRoom
from flychat.domain.model import RoomId, validate_sender
from flychat.domain.wire import message_fields
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
    """The join page, or with ``?user=NAME`` the chat page with recent history."""
    try:
        room_id = RoomId(room)
    except InvalidRoom as exc:
        raise NotFoundException(f"no such room: {exc.reason}") from None
    raw_user = request.query_params.get("user")
    if raw_user is None:
        return Template("join.html", context={"room": room_id.value, "user": "", "error": None})
    try:
        user = validate_sender(raw_user)
    except InvalidInput as exc:
        context = {"room": room_id.value, "user": raw_user, "error": f"Nickname {exc.reason}."}
        return Template("join.html", context=context, status_code=400)
    services = services_of(state)
    page = await services.chat.history(room_id)
    context = {
        "room": room_id.value,
        "user": user,
        "messages": [message_fields(m) for m in page.messages],
        "last_id": page.last_id,
        "max_text_length": services.settings.max_text_length,
        "presence_ttl": services.settings.presence_ttl,
    }
    return Template("chat.html", context=context)


PAGE_HANDLERS = [index, room_page]
