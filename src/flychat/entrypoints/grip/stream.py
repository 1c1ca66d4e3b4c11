"""The GRIP stream path: answer statelessly, let the proxy hold the stream."""

from __future__ import annotations

import functools
from typing import Any

from litestar import Request
from litestar.response import Response

from flychat.bootstrap import Services
from flychat.domain.channels import messages_channel
from flychat.domain.messages import Replay
from flychat.domain.model import MAX_ID, RoomId
from flychat.domain.wire import sse_message, sse_open, sse_reset, sse_retry
from flychat.entrypoints.grip.headers import hold_stream_headers, parse_grip_last
from flychat.entrypoints.grip.sig import GripSigValidator
from flychat.entrypoints.sse import SSE_HEADERS, resume_position, wants_event_stream

DIRECT_OFF = (
    "direct streaming is switched off (FLYCHAT_DIRECT_STREAMING=false): "
    "open the stream through the GRIP proxy"
)


def is_grip_request(services: Services, request: Request[Any, Any, Any]) -> bool:
    """True when the request carries a ``Grip-Sig`` that validates with a configured key."""
    keys = services.grip_sig_keys
    return bool(keys) and _validator(keys).is_valid(request.headers.get("grip-sig"))


@functools.lru_cache(maxsize=8)
def _validator(keys: tuple[bytes | str, ...]) -> GripSigValidator:
    return GripSigValidator(keys)


def is_recovery_request(services: Services, request: Request[Any, Any, Any]) -> bool:
    """True for the proxy's own recovery request: a valid ``Grip-Sig`` and a ``Grip-Last``."""
    return request.headers.get("grip-last") is not None and is_grip_request(services, request)


async def grip_recovery_answer(
    services: Services, room: RoomId, request: Request[Any, Any, Any], expiry: int | None
) -> Response[Any]:
    """The messages after ``Grip-Last`` and the hold headers again (no user token needed)."""
    channel = messages_channel(services.settings.grip_prefix, room)
    last_id = parse_grip_last(request.headers.get("grip-last"), channel)
    replay = await services.chat.replay(room, MAX_ID if last_id is None else last_id)
    services.chat.metrics.grip_recovered()
    return _held(services, room, replay, opening=False, expiry=expiry)


async def grip_stream_answer(
    services: Services,
    room: RoomId,
    request: Request[Any, Any, Any],
    expiry: int | None = None,
) -> Response[Any] | None:
    """Answer a GRIP stream or recovery request, or refuse a direct stream with 503.

    None when the request is neither: JSON history, or a stream served in direct mode.
    ``expiry`` is the expiry slot of the caller's token (auth on).
    """
    wants_stream = wants_event_stream(request.headers.get("accept"))
    if not is_grip_request(services, request):
        if wants_stream and not services.settings.direct_streaming:
            return Response({"error": DIRECT_OFF}, status_code=503)
        return None
    if request.headers.get("grip-last") is not None:
        return await grip_recovery_answer(services, room, request, expiry)
    if wants_stream:
        position = resume_position(
            request.headers.get("last-event-id"), request.query_params.get("lastEventId")
        )
        replay = await services.chat.replay(room, position)
        return _held(services, room, replay, opening=True, expiry=expiry)
    return None


def _held(
    services: Services, room: RoomId, replay: Replay, *, opening: bool, expiry: int | None
) -> Response[Any]:
    """The held answer; only the opening one carries ``retry:`` and ``stream-open``.

    A recovery answer is appended to a stream the client already has open, which
    got its ``retry:`` with the opening answer. ``expiry``: the token's expiry slot.
    """
    settings = services.settings
    parts = [sse_retry(settings.sse_retry_ms), sse_open()] if opening else []
    if replay.reset:
        services.chat.metrics.stream_reset()
        parts.append(sse_reset(replay.last_id))
    parts.extend(sse_message(m) for m in replay.messages)
    grip = hold_stream_headers(
        room,
        replay.last_id,
        prefix=settings.grip_prefix,
        keepalive_seconds=settings.keepalive_seconds,
        link_timeout_seconds=settings.link_timeout_seconds,
        expiry=expiry,
    )
    return Response(
        "".join(parts).encode(),
        media_type="text/event-stream",
        headers={**SSE_HEADERS, **grip},
    )
