"""The JSON and SSE API: thin handlers that parse, call the chat, shape the answer."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Response

from flychat.bootstrap import Services
from flychat.domain.access import NotAuthenticated, expiry_slot
from flychat.domain.errors import InvalidInput
from flychat.domain.messages import MAX_PAGE_LIMIT
from flychat.domain.model import Page, RoomId, parse_position
from flychat.domain.wire import message_fields, message_json
from flychat.entrypoints.auth import authenticate, authorize, check_cross_site, check_rate
from flychat.entrypoints.bodies import body_fields
from flychat.entrypoints.event_stream import EventStream
from flychat.entrypoints.grip.stream import (
    grip_recovery_answer,
    grip_stream_answer,
    is_recovery_request,
)
from flychat.entrypoints.json_answer import JsonAnswer
from flychat.entrypoints.openapi import operations as docs
from flychat.entrypoints.openapi.document import documented
from flychat.entrypoints.sse import (
    SSE_HEADERS,
    direct_stream,
    resume_position,
    wants_event_stream,
)

MESSAGES_PATH = "/rooms/{room:str}/messages"


def services_of(state: State) -> Services:
    """The app's services, built by the lifespan."""
    services: Services = state.services
    return services


def page_json(page: Page) -> dict[str, Any]:
    """A history page as the API answers it."""
    return {"messages": [message_fields(m) for m in page.messages], "lastEventId": page.last_id}


def _query_int(request: Request[Any, Any, Any], name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = parse_position(raw)
    if value is None:
        raise InvalidInput(name, "must be a non-negative whole number")
    return value


@post(
    MESSAGES_PATH,
    status_code=200,
    media_type="application/json",
    operation_class=documented(docs.SEND_MESSAGE),
)
async def send_message(request: Request[Any, Any, Any]) -> JsonAnswer:
    """Post a message to a room (form, multipart or JSON); idempotent on provisionalId.

    With auth on, the token decides who speaks: ``from`` is its name, ``user`` its sub.
    """
    services = services_of(request.app.state)
    room: str = request.scope["path_params"]["room"]
    try:
        caller = authenticate(services, request)
        room_id = None
        if caller is not None:
            room_id = RoomId(room)
            caller.require("post", room_id)
            check_cross_site(services, request)
        check_rate(services, request, caller)
        fields = await body_fields(request, services.settings.max_body_bytes)
        room_id = room_id or RoomId(room)
    except Exception:
        services.chat.metrics.post_finished("rejected")
        raise
    sender = fields.get("from") if caller is None else caller.name
    message = await services.chat.post(
        room_id,
        sender,
        fields.get("text"),
        fields.get("provisionalId"),
        user=None if caller is None else caller.sub,
    )
    return JsonAnswer(message_json(message).encode())


@get(MESSAGES_PATH, operation_class=documented(docs.READ_MESSAGES))
async def read_messages(
    request: Request[Any, Any, Any], room: FromPath[str], state: State
) -> Response[Any]:
    """JSON history with paging, or the SSE stream when Accept asks for text/event-stream."""
    services = services_of(state)
    room_id = RoomId(room)
    if is_recovery_request(services, request):
        return await grip_recovery_answer(services, room_id, request, None)
    caller = authorize(services, request, room_id, "read")
    wants_stream = wants_event_stream(request.headers.get("accept"))
    expiry = None
    if caller is not None and wants_stream:
        if caller.expired(time.time()):
            raise NotAuthenticated("the token has expired", token_given=True)
        expiry = expiry_slot(caller.expires)
    if (answer := await grip_stream_answer(services, room_id, request, expiry)) is not None:
        return answer
    if wants_stream:
        position = resume_position(
            request.headers.get("last-event-id"), request.query_params.get("lastEventId")
        )
        settings = services.settings
        stream = direct_stream(
            services.chat,
            services.feed,
            room_id,
            position,
            settings.keepalive_seconds,
            settings.gap_wait_seconds,
            None if caller is None else caller.expires,
            retry_ms=settings.sse_retry_ms,
        )
        return EventStream(stream, media_type="text/event-stream", headers=SSE_HEADERS)
    limit = _query_int(request, "limit")
    if limit is not None and not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE_LIMIT}")
    page = await services.chat.history(
        room_id,
        after=_query_int(request, "after"),
        before=_query_int(request, "before"),
        limit=limit,
    )
    return Response(page_json(page))


@get(f"{MESSAGES_PATH}/expiry/{{slot:int}}", include_in_schema=False)
async def recover_expiring(
    request: Request[Any, Any, Any], room: FromPath[str], slot: FromPath[int], state: State
) -> Response[Any]:
    """The next link of streams whose token expires in ``slot``: recovery requests only."""
    services = services_of(state)
    room_id = RoomId(room)
    if not is_recovery_request(services, request):
        raise NotFoundException("only the GRIP proxy's recovery requests come here")
    return await grip_recovery_answer(services, room_id, request, slot)


@get("/healthz", operation_class=documented(docs.HEALTHZ))
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/readyz", operation_class=documented(docs.READYZ))
async def readyz(state: State) -> Response[dict[str, str]]:
    """Readiness: the store answers."""
    await services_of(state).chat.log.check()
    return Response({"status": "ready"})


API_HANDLERS = [send_message, read_messages, recover_expiring, healthz, readyz]
