"""One documentation entry per operation: parameters, bodies and every status it answers."""

from __future__ import annotations

from flychat.domain.messages import MAX_PAGE_LIMIT
from flychat.entrypoints.openapi.document import (
    JSON,
    Content,
    Doc,
    Reply,
    header,
    json_reply,
    parameter,
)
from flychat.entrypoints.openapi.shapes import (
    Error,
    FieldError,
    Health,
    HistoryPage,
    Message,
    PageLimit,
    Position,
    PresenceBody,
    PresenceBodyJson,
    PresenceList,
    Ready,
    RoomName,
    Sender,
    SessionForm,
    TypingBody,
    TypingBodyJson,
    json_schema,
)

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
EVENT_STREAM = "text/event-stream"
HTML = "text/html"
TEXT = {"type": "string"}

ROOM = parameter("path", "room", "The room id.", json_schema(RoomName))
RETRY_AFTER = header("Seconds to wait before retrying.", {"type": "string", "pattern": r"^\d+$"})

NO_ROUTE = json_reply("No route: the room segment is empty or contains `/`.", Error)
STORAGE_DOWN = json_reply(
    "Storage is unavailable; retry later (`Retry-After`).",
    Error,
    headers={"Retry-After": RETRY_AFTER},
)

AUTH_ON = (
    "Only with identity and access on (`FLYCHAT_AUTH_SECRET` or `FLYCHAT_AUTH_PUBLIC_KEY` set)."
)
TOKEN = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": f"{AUTH_ON} `Authorization: Bearer <token>`; wins over the cookie.",
    },
    "cookieAuth": {
        "type": "apiKey",
        "in": "cookie",
        "name": "flychat_token",
        "description": f"{AUTH_ON} The cookie `POST /auth/session` sets (the bundled client).",
    },
}
"""Optional on the room operations: open mode (auth off) needs no token and ignores one."""

CHALLENGE = header(
    '`Bearer realm="flychat"`, with `, error="invalid_token"` when a token was given.',
    {"type": "string", "pattern": r'^Bearer realm="flychat"(?:, error="invalid_token")?$'},
    required=True,
)
SCOPE = r'^Bearer realm="flychat", error="insufficient_scope"$'
NOT_GRANTED = header(
    '`Bearer realm="flychat", error="insufficient_scope"`.', {**TEXT, "pattern": SCOPE}
)
UNAUTHENTICATED = json_reply(
    f"{AUTH_ON} No token (`Authorization: Bearer`, else the `flychat_token` cookie), or one "
    "that does not verify or has expired.",
    Error,
    headers={"WWW-Authenticate": CHALLENGE},
)
CROSS_SITE = (
    ", or the POST is authenticated only by the cookie and carries an `Origin` that is neither "
    "the app's own nor in `FLYCHAT_CORS_ORIGINS` (then without `WWW-Authenticate`)"
)


def forbidden(action: str, *, post: bool) -> Reply:
    """The 403 of a room operation needing ``action``; a POST also refuses cross-site cookies."""
    return json_reply(
        f"{AUTH_ON} The token does not grant `{action}` in the room"
        f"{CROSS_SITE if post else ''}. Nothing was stored or published.",
        Error,
        headers={"WWW-Authenticate": {**NOT_GRANTED, "required": not post}},
    )


RATE_LIMITED = json_reply(
    "Over `FLYCHAT_POST_RATE` (unset: never), in both modes: too many POSTs from this sender "
    "(the token's `sub`, else the client address). Nothing was stored or published.",
    Error,
    headers={"Retry-After": {**RETRY_AFTER, "required": True}},
)

NEW_MESSAGE_BODY = {
    FORM: Content(("NewMessage",)),
    MULTIPART: Content(("NewMessage",)),
    JSON: Content(("NewMessageJson",)),
}

BAD_BODY = f"The Content-Type is not {FORM}, {MULTIPART} or {JSON} with the utf-8 charset."
TOO_BIG = json_reply("The body is over `FLYCHAT_MAX_BODY_BYTES` (64 KiB by default).", Error)

SEND_MESSAGE = Doc(
    operation_id="sendMessage",
    summary="Post a message to a room",
    parameters=[ROOM],
    body=NEW_MESSAGE_BODY,
    trailing_slash=True,
    optional_auth=TOKEN,
    responses={
        200: json_reply(
            "The stored message; a repeated `provisionalId` answers the message already stored.",
            Message,
        ),
        400: json_reply(
            "A body that cannot be decoded (no `field`), or a field or the room breaking a rule. "
            "Nothing was stored or published.",
            FieldError,
            Error,
        ),
        401: UNAUTHENTICATED,
        403: forbidden("post", post=True),
        404: NO_ROUTE,
        413: TOO_BIG,
        415: json_reply(BAD_BODY, Error),
        429: RATE_LIMITED,
        503: json_reply(
            "Storage is unavailable; the provisional event was retracted. Retry with the same "
            "`provisionalId` (`Retry-After`).",
            Error,
            headers={"Retry-After": RETRY_AFTER},
        ),
    },
)

STREAM_TEXT = (
    "Server-Sent Events that never end on their own: `retry: N` and `event: stream-open` "
    "(new streams), "
    "`event: stream-reset` when the resume position cannot be honoured, then `event: message` "
    "events (with `id:` when durable, without when provisional) and `: keep-alive` comments. "
    "Every `data:` line is JSON."
)
POSITION = json_schema(Position)
RESUME = "Resume position for the stream: ASCII digits; any other value counts as absent."

READ_MESSAGES = Doc(
    operation_id="readMessages",
    summary="Read a room's history (JSON) or stream it (SSE)",
    trailing_slash=True,
    optional_auth=TOKEN,
    parameters=[
        ROOM,
        parameter("query", "after", "Messages with an id greater than this.", POSITION),
        parameter(
            "query",
            "before",
            "The newest messages with an id less than this; not with `after`.",
            POSITION,
        ),
        parameter(
            "query",
            "limit",
            f"Page size, 1-{MAX_PAGE_LIMIT}; default `FLYCHAT_HISTORY_SIZE` (50).",
            json_schema(PageLimit),
        ),
        parameter("query", "lastEventId", f"{RESUME} Used when `Last-Event-ID` is not.", TEXT),
        parameter(
            "query",
            "recover",
            "Carried by the GRIP next link (`?recover=true`); the answer does not depend on it.",
            TEXT,
        ),
        parameter("header", "Last-Event-ID", f"{RESUME} Wins over `lastEventId`.", TEXT),
        parameter(
            "header",
            "Grip-Sig",
            "Set by a GRIP proxy; anything that does not validate is ignored.",
            TEXT,
        ),
        parameter(
            "header",
            "Grip-Last",
            "Set by a GRIP proxy on recovery (`{channel}; last-id=N`); trusted only with a valid "
            "`Grip-Sig`.",
            TEXT,
        ),
    ],
    responses={
        200: Reply(
            "The history page when `Accept` does not include `text/event-stream`; otherwise the "
            "stream (held by the app in direct mode, or handed to the GRIP proxy with its "
            "`Grip-*` hold headers when the request carries a valid `Grip-Sig`).",
            {
                JSON: Content((HistoryPage,)),
                EVENT_STREAM: Content(schema={**TEXT, "description": STREAM_TEXT}),
            },
            {
                "Cache-Control": header("`no-cache` on the stream.", TEXT),
                "X-Accel-Buffering": header("`no` on the stream.", TEXT),
                "Grip-Hold": header("`stream`, to the GRIP proxy only.", TEXT),
                "Grip-Channel": header("The channels the proxy holds the stream on.", TEXT),
                "Grip-Keep-Alive": header("The keep-alive the proxy sends.", TEXT),
                "Grip-Link": header("The recovery (next) link for the proxy.", TEXT),
            },
        ),
        400: json_reply(
            "The room, `after`, `before` or `limit` breaks a rule, or `after` and `before` are "
            "given together.",
            FieldError,
        ),
        401: UNAUTHENTICATED,
        403: forbidden("read", post=False),
        404: NO_ROUTE,
        503: json_reply(
            "Storage is unavailable (`Retry-After`), or a stream was asked for without a GRIP "
            "proxy while `FLYCHAT_DIRECT_STREAMING=false`.",
            Error,
            headers={"Retry-After": RETRY_AFTER},
        ),
    },
)

HEALTHZ = Doc(
    operation_id="healthz",
    summary="Liveness",
    responses={200: json_reply("The process answers.", Health)},
)

READYZ = Doc(
    operation_id="readyz",
    summary="Readiness",
    responses={200: json_reply("The store answers.", Ready), 503: STORAGE_DOWN},
)

METRICS = Doc(
    operation_id="metrics",
    summary="Metrics in the Prometheus text format",
    responses={
        200: Reply(
            "This process's metrics (`FLYCHAT_METRICS=false` removes the route).",
            {"text/plain": Content(schema=TEXT)},
        )
    },
)

REQUEST_ID = header(
    "The request's id: the client's `X-Request-ID` when it is 1-128 of `A-Za-z0-9._-`, "
    "else a new one. Every log line about the request carries it.",
    {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,128}$"},
    required=True,
)

PAGE = Content(schema={**TEXT, "description": "An HTML page."})

INDEX = Doc(
    operation_id="index",
    summary="Redirect to the default room",
    responses={
        302: Reply(
            "To `/default`, with the query string kept.",
            headers={"Location": header("`/default[?query]`.", TEXT, required=True)},
        )
    },
)

ROOM_PAGE = Doc(
    operation_id="roomPage",
    summary="The join page, or the chat page with recent history",
    parameters=[
        ROOM,
        parameter(
            "query",
            "user",
            "The nickname (rules of `from`); without it, the join page.",
            json_schema(Sender),
        ),
    ],
    optional_auth=TOKEN,
    responses={
        200: Reply(
            "The join page, or with `user` the chat page. With auth on, `user` is ignored: the "
            "chat page for a signed-in reader, else the sign-in page.",
            {HTML: PAGE},
        ),
        400: Reply("The join page again, saying why `user` was refused.", {HTML: PAGE}),
        403: Reply(
            f"{AUTH_ON} The token does not grant `read` in the room: an HTML error page.",
            {HTML: PAGE},
            {"WWW-Authenticate": {**NOT_GRANTED, "required": True}},
        ),
        404: Reply(
            "Not a room: an HTML page when `Accept` includes `text/html`, else JSON.",
            {HTML: PAGE, JSON: Content((Error,))},
        ),
    },
)

EPHEMERAL = (
    "Ephemeral events go to the room's streams (`GET /rooms/{room}/messages/` as SSE; in GRIP "
    "mode on the provisional channel): never stored, never with an `id:` line."
)


def bad_ephemeral_input(flag: str) -> Reply:
    """The 400 of a typing or presence POST, whose optional flag is ``flag``."""
    return json_reply(
        f"A body that cannot be decoded (no `field`), or the room, `from` or `{flag}` breaking "
        "a rule (checked in that order). Nothing was stored or published.",
        FieldError,
        Error,
    )


PRESENCE_EVENTS = (
    '`event: presence` with `data: {"from": "alice", "present": true}` when a heartbeat '
    'creates the member, `{"from": "alice", "present": false}` when a `leave` or the '
    "expiry sweep removes it (within `FLYCHAT_PRESENCE_TTL` + 15 s of its last heartbeat); "
    'each exactly once per change, `"user"` after `from` when signed in.'
)

SEND_TYPING = Doc(
    operation_id="sendTyping",
    summary="Say that someone is (or stopped) typing",
    description=(
        f"{EPHEMERAL} Sends `event: typing` with "
        '`data: {"from": "alice", "typing": true, "seconds": 6}` (`"user"` after '
        "`from` when signed in): receivers show the indicator for `seconds` unless renewed, "
        "and hide it on `typing: false` or when that sender's message arrives. A sender's "
        "repeated `typing: true` in the same room within 2 s (per app process) answers 204 "
        "and sends nothing; `typing: false` always goes out."
    ),
    parameters=[ROOM],
    optional_auth=TOKEN,
    body={
        FORM: Content((TypingBody,)),
        MULTIPART: Content((TypingBody,)),
        JSON: Content((TypingBodyJson,)),
    },
    responses={
        204: Reply("Sent, or a repeat within 2 s that sent nothing."),
        400: bad_ephemeral_input("typing"),
        401: UNAUTHENTICATED,
        403: forbidden("post", post=True),
        404: NO_ROUTE,
        413: TOO_BIG,
        415: json_reply(BAD_BODY, Error),
    },
)

SEND_PRESENCE = Doc(
    operation_id="sendPresence",
    summary="Heartbeat (present for the TTL), or leave the room",
    description=(
        f"{EPHEMERAL} Present for `FLYCHAT_PRESENCE_TTL` seconds (60 by default) after each "
        "heartbeat; clients send one about every TTL/2 while the room is open and "
        f"`leave=true` when it closes. Members are keyed by the trimmed `from`. {PRESENCE_EVENTS}"
    ),
    parameters=[ROOM],
    optional_auth=TOKEN,
    body={
        FORM: Content((PresenceBody,)),
        MULTIPART: Content((PresenceBody,)),
        JSON: Content((PresenceBodyJson,)),
    },
    responses={
        200: json_reply("The room's members after this heartbeat or leave.", PresenceList),
        400: bad_ephemeral_input("leave"),
        401: UNAUTHENTICATED,
        403: forbidden("read", post=True),
        404: NO_ROUTE,
        413: TOO_BIG,
        415: json_reply(BAD_BODY, Error),
        503: STORAGE_DOWN,
    },
)

READ_PRESENCE = Doc(
    operation_id="readPresence",
    summary="Who is in a room",
    description=(
        "Members seen within `FLYCHAT_PRESENCE_TTL` seconds, sorted by `from`; a member is "
        "never listed longer than that after its last heartbeat, swept or not. Changes arrive "
        f"on the room's stream: {PRESENCE_EVENTS}"
    ),
    parameters=[ROOM],
    optional_auth=TOKEN,
    responses={
        200: json_reply("The room's members.", PresenceList),
        400: json_reply("The room breaks a rule.", FieldError),
        401: UNAUTHENTICATED,
        403: forbidden("read", post=False),
        404: NO_ROUTE,
        503: STORAGE_DOWN,
    },
)

SIGN_IN_FORM = {FORM: Content((SessionForm,)), MULTIPART: Content((SessionForm,))}
SET_COOKIE = "Set-Cookie"

CREATE_SESSION = Doc(
    operation_id="createSession",
    summary="Sign the bundled client in: set the `flychat_token` cookie",
    body=SIGN_IN_FORM,
    responses={
        303: Reply(
            "The token verified: the cookie is set (HttpOnly, SameSite=Lax, Secure over https, "
            "expiring with the token) and the client goes to `next`.",
            headers={
                "Location": header(
                    "`next` when it is a local path, else `/`.", TEXT, required=True
                ),
                SET_COOKIE: header("`flychat_token=<token>; ...`.", TEXT, required=True),
            },
        ),
        400: json_reply(
            "The body cannot be read as its Content-Type says (a malformed multipart body, "
            "or no boundary); no cookie is set.",
            Error,
        ),
        401: Reply(
            "No token, or one that does not verify or has expired; no cookie is set. The "
            "sign-in page again when `Accept` includes `text/html`, else JSON.",
            {HTML: PAGE, JSON: Content((Error,))},
            {"WWW-Authenticate": CHALLENGE},
        ),
        403: Reply(
            "`Origin` is neither the app's own nor in `FLYCHAT_CORS_ORIGINS` (login CSRF); "
            "no cookie is set. HTML when `Accept` includes `text/html`, else JSON.",
            {HTML: PAGE, JSON: Content((Error,))},
        ),
        404: Reply(
            "Identity and access are off (open mode): there is nothing to sign in to. HTML "
            "when `Accept` includes `text/html`, else JSON.",
            {HTML: PAGE, JSON: Content((Error,))},
        ),
    },
)

END_SESSION = Doc(
    operation_id="endSession",
    summary="Sign out: clear the `flychat_token` cookie",
    responses={
        303: Reply(
            "The cookie is cleared (in both modes) and the client goes to `/`.",
            headers={
                "Location": header("`/`.", TEXT, required=True),
                SET_COOKIE: header("`flychat_token=; Max-Age=0; ...`.", TEXT, required=True),
            },
        ),
        403: Reply(
            "`Origin` is neither the app's own nor in `FLYCHAT_CORS_ORIGINS`; the cookie is "
            "kept. HTML when `Accept` includes `text/html`, else JSON.",
            {HTML: PAGE, JSON: Content((Error,))},
        ),
    },
)
