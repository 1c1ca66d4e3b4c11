"""GRIP instructions as HTTP headers: holding a stream, and reading ``Grip-Last``."""

from __future__ import annotations

import math
import re

from flychat.domain.channels import expiry_channel, messages_channel, provisional_channel
from flychat.domain.model import RoomId, parse_position
from flychat.domain.wire import sse_comment

_LAST_ID_RE = re.compile(r"^\s*last-id\s*=\s*\"?([^\";,\s]*)\"?\s*$")


def _cstring(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def next_link(room: RoomId, expiry: int | None = None) -> str:
    """The path-only next link that recovery requests come back to.

    With ``expiry`` (auth on) the stream's expiry slot is part of the path, shared by
    every stream of the room expiring in that slot, so recoveries keep the expiry channel.
    """
    if expiry is None:
        return f"/rooms/{room}/messages/?recover=true"
    return f"/rooms/{room}/messages/expiry/{expiry}/?recover=true"


def hold_stream_headers(
    room: RoomId,
    last_id: int,
    *,
    prefix: str = "",
    keepalive_seconds: float = 20.0,
    link_timeout_seconds: int = 120,
    expiry: int | None = None,
) -> dict[str, str]:
    """Headers telling the proxy to hold the response open as a stream on the room's channels.

    ``last_id`` is the id of the last durable event in the body (0 for none); ``expiry``
    the token's expiry slot, whose channel's close ends the stream.
    """
    keepalive = max(1, math.ceil(keepalive_seconds))
    channels = (
        f"{messages_channel(prefix, room)}; prev-id={last_id}, {provisional_channel(prefix, room)}"
    )
    if expiry is not None:
        channels += f", {expiry_channel(prefix, expiry)}"
    return {
        "Grip-Hold": "stream",
        "Grip-Channel": channels,
        "Grip-Keep-Alive": f"{_cstring(sse_comment())}; format=cstring; timeout={keepalive}",
        "Grip-Link": f"<{next_link(room, expiry)}>; rel=next; timeout={link_timeout_seconds}",
    }


def parse_grip_last(value: str | None, channel: str) -> int | None:
    """The ``last-id`` that ``Grip-Last`` reports for ``channel``, or None when absent or invalid.

    The header lists ``channel; last-id=N`` entries separated by commas.
    """
    if not value:
        return None
    for entry in value.split(","):
        name, _, params = entry.partition(";")
        if name.strip() != channel:
            continue
        for param in params.split(";"):
            match = _LAST_ID_RE.match(param)
            if match:
                return parse_position(match.group(1))
    return None
