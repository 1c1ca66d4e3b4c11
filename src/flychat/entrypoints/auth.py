"""The HTTP side of identity: where tokens travel, who may do what, cross-site and rate checks."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from flychat.bootstrap import Services
from flychat.domain.access import Action, Caller, NotAuthenticated
from flychat.domain.errors import FlychatError
from flychat.domain.model import RoomId

COOKIE = "flychat_token"
REALM = 'Bearer realm="flychat"'
INVALID_TOKEN = f'{REALM}, error="invalid_token"'
INSUFFICIENT_SCOPE = f'{REALM}, error="insufficient_scope"'
_DEFAULT_PORTS = {"http": 80, "https": 443}


class CrossSiteRefused(FlychatError):
    """A POST authenticated only by the cookie, from an origin that is not allowed."""


class RateLimited(FlychatError):
    """Too many POSTs from one sender; ``retry_after`` seconds until the next is allowed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many messages; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Presented:
    """A token as the request carried it."""

    token: str
    from_cookie: bool


def presented_token(request: Request[Any, Any, Any]) -> Presented | None:
    """The request's token: ``Authorization: Bearer``, else the ``flychat_token`` cookie."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return Presented(value.strip(), from_cookie=False)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return Presented(cookie, from_cookie=True)
    return None


def authenticate(services: Services, request: Request[Any, Any, Any]) -> Caller | None:
    """The signed-in caller; None in open mode. Raise NotAuthenticated without a valid token."""
    if services.verifier is None:
        return None
    presented = presented_token(request)
    if presented is None:
        raise NotAuthenticated("a token is required", token_given=False)
    return services.verifier.verify(presented.token)


def authorize(
    services: Services, request: Request[Any, Any, Any], room: RoomId, action: Action
) -> Caller | None:
    """The caller, once allowed to ``action`` in ``room``; None in open mode."""
    caller = authenticate(services, request)
    if caller is not None:
        caller.require(action, room)
    return caller


def _endpoint(scheme: str, netloc: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        return (parts.hostname or "", parts.port)
    except ValueError:
        return None


def origin_allowed(origin: str, host: str | None, allowed: tuple[str, ...]) -> bool:
    """True when ``origin`` is one of ``allowed`` or the app's own (the ``Host`` it was sent to).

    The scheme is not compared (TLS often ends at a proxy in front); a ``Host`` with an
    explicit port must match the origin's port.
    """
    if origin.rstrip("/").lower() in allowed:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc or not host:
        return False
    theirs = _endpoint(parts.scheme, parts.netloc)
    ours = _endpoint(parts.scheme, host)
    if theirs is None or ours is None or not ours[0] or theirs[0] != ours[0]:
        return False
    if ours[1] is None:
        return True
    return (theirs[1] or _DEFAULT_PORTS[parts.scheme]) == ours[1]


def foreign_origin(services: Services, request: Request[Any, Any, Any]) -> str | None:
    """The request's ``Origin`` when it is neither the app's own nor allowed, else None."""
    origin = request.headers.get("origin")
    if origin is None:
        return None
    host = request.headers.get("host")
    return None if origin_allowed(origin, host, services.settings.cors_origins) else origin


def check_cross_site(services: Services, request: Request[Any, Any, Any]) -> None:
    """Refuse a cookie-only POST whose ``Origin`` is neither the app's own nor allowed."""
    if services.verifier is None:
        return
    presented = presented_token(request)
    if presented is None or not presented.from_cookie:
        return
    if (origin := foreign_origin(services, request)) is not None:
        raise CrossSiteRefused(
            f"cross-site POST refused: origin {origin!r} is not allowed to post with the cookie"
        )


def check_session_origin(services: Services, request: Request[Any, Any, Any]) -> None:
    """Refuse a sign-in or sign-out POST whose ``Origin`` is neither the app's own nor allowed.

    Without it a foreign page could sign a visitor in as the page's own user (login
    CSRF) or out. Requests without ``Origin`` (non-browser clients) pass.
    """
    if (origin := foreign_origin(services, request)) is not None:
        raise CrossSiteRefused(
            f"cross-site sign-in refused: origin {origin!r} may not set or clear the cookie"
        )


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[Any, ...]) -> str:
    """The client's address: ``peer``, or through trusted proxies the ``X-Forwarded-For`` hop.

    Walks ``X-Forwarded-For`` from the right while each hop is a trusted proxy; the first
    untrusted (or unparsable) hop is the client.
    """
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    address = peer
    for hop in [peer, *reversed(hops)]:
        address = hop
        try:
            ip = ipaddress.ip_address(hop)
        except ValueError:
            break
        if not any(ip in network for network in trusted):
            break
    return address


def check_rate(services: Services, request: Request[Any, Any, Any], caller: Caller | None) -> None:
    """Count this POST against its sender; raise RateLimited when over the limit."""
    limiter = services.limiter
    if limiter is None:
        return
    if caller is not None:
        key = f"sub:{caller.sub}"
    else:
        peer = request.client.host if request.client else ""
        forwarded = request.headers.get("x-forwarded-for")
        key = f"ip:{client_address(peer, forwarded, services.settings.trusted_proxies)}"
    wait = limiter.hit(key)
    if wait is not None:
        raise RateLimited(wait)
