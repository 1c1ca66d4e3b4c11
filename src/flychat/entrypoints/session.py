"""Signing the bundled client in and out: the ``flychat_token`` cookie."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, post
from litestar.datastructures import Cookie, State
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Response, Template

from flychat.domain.access import Caller, NotAuthenticated
from flychat.entrypoints.auth import COOKIE, INVALID_TOKEN, REALM, check_session_origin
from flychat.entrypoints.http import services_of
from flychat.entrypoints.openapi import operations as docs
from flychat.entrypoints.openapi.document import documented


def local_path(raw: object) -> str:
    """``raw`` when it is a path on this site (one leading ``/``), else ``/``."""
    if not isinstance(raw, str) or not raw.startswith("/") or raw.startswith(("//", "/\\")):
        return "/"
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in raw):
        return "/"
    return raw


def is_https(request: Request[Any, Any, Any]) -> bool:
    """True when the client reached the app over https (directly or through a proxy)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _refused(request: Request[Any, Any, Any], exc: NotAuthenticated, next_path: str) -> Any:
    challenge = INVALID_TOKEN if exc.token_given else REALM
    headers = {"WWW-Authenticate": challenge}
    if "text/html" in request.headers.get("accept", ""):
        room = next_path.strip("/").split("/")[0].split("?")[0] or "default"
        context = {"room": room, "next": next_path, "error": f"Not signed in: {exc.reason}."}
        return Template(
            "signin.html", context=context, status_code=401, headers=headers, media_type="text/html"
        )
    return Response({"error": exc.reason}, status_code=401, headers=headers)


@post("/auth/session", status_code=303, operation_class=documented(docs.CREATE_SESSION))
async def create_session(request: Request[Any, Any, Any], state: State) -> Any:
    """Validate the form's ``token``, set it as the cookie and go to ``next`` (a local path)."""
    services = services_of(state)
    if services.verifier is None:
        raise NotFoundException("identity and access are off (no FLYCHAT_AUTH_SECRET)")
    check_session_origin(services, request)
    form = await request.form()
    next_path = local_path(form.get("next"))
    raw = form.get("token")
    token = raw.strip() if isinstance(raw, str) else ""
    try:
        if not token:
            raise NotAuthenticated("paste a token to sign in", token_given=False)
        caller: Caller = services.verifier.verify(token)
        now = time.time()
        if caller.expired(now):
            raise NotAuthenticated("the token has expired", token_given=True)
    except NotAuthenticated as exc:
        return _refused(request, exc, next_path)
    lifetime = max(1, int(caller.expires - now))
    cookie = Cookie(
        key=COOKIE,
        value=token,
        path="/",
        max_age=lifetime,
        expires=lifetime,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    return Redirect(next_path, status_code=303, cookies=[cookie])


@post("/auth/logout", status_code=303, operation_class=documented(docs.END_SESSION))
async def end_session(request: Request[Any, Any, Any], state: State) -> Redirect:
    """Clear the cookie and go to ``/`` (refused from a foreign ``Origin``)."""
    check_session_origin(services_of(state), request)
    cleared = Cookie(
        key=COOKIE,
        value="",
        path="/",
        max_age=0,
        expires=0,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    return Redirect("/", status_code=303, cookies=[cleared])


SESSION_HANDLERS = [create_session, end_session]
