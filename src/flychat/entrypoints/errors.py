"""One table from domain and HTTP errors to responses with a clear JSON body."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.types import ExceptionHandlersMap

from flychat.domain.access import NotAllowed, NotAuthenticated
from flychat.domain.errors import InvalidInput, StorageUnavailable
from flychat.entrypoints.auth import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    REALM,
    CrossSiteRefused,
    RateLimited,
)
from flychat.entrypoints.bodies import MalformedBody, UnsupportedMediaType

log = logging.getLogger(__name__)


def _is_page(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith("/rooms/") and "text/html" in request.headers.get(
        "accept", ""
    )


def invalid_input(_: Request[Any, Any, Any], exc: InvalidInput) -> Response[Any]:
    """400 naming the field and the rule it broke."""
    return Response({"error": str(exc), "field": exc.field, "reason": exc.reason}, status_code=400)


def malformed_body(_: Request[Any, Any, Any], exc: MalformedBody) -> Response[Any]:
    """400 for a body that cannot be decoded."""
    return Response({"error": str(exc)}, status_code=400)


def unsupported_media(_: Request[Any, Any, Any], exc: UnsupportedMediaType) -> Response[Any]:
    """415 for a Content-Type flychat does not read."""
    return Response({"error": str(exc)}, status_code=415)


def storage_unavailable(_: Request[Any, Any, Any], exc: StorageUnavailable) -> Response[Any]:
    """503 when the store is down; the client may retry with the same provisionalId."""
    log.warning("storage unavailable: %s", exc)
    return Response(
        {"error": f"storage unavailable: {exc}"}, status_code=503, headers={"Retry-After": "1"}
    )


def _refusal(
    request: Request[Any, Any, Any], status: int, message: str, headers: dict[str, str]
) -> Response[Any] | Template:
    if _is_page(request):
        context = {"status": status, "message": message}
        return Template("error.html", context=context, status_code=status, headers=headers)
    return Response({"error": message}, status_code=status, headers=headers)


def not_authenticated(
    request: Request[Any, Any, Any], exc: NotAuthenticated
) -> Response[Any] | Template:
    """401 with the Bearer challenge; ``error="invalid_token"`` when a token was given."""
    challenge = INVALID_TOKEN if exc.token_given else REALM
    return _refusal(request, 401, exc.reason, {"WWW-Authenticate": challenge})


def not_allowed(request: Request[Any, Any, Any], exc: NotAllowed) -> Response[Any] | Template:
    """403 with ``error="insufficient_scope"``: the token does not grant the room."""
    return _refusal(request, 403, str(exc), {"WWW-Authenticate": INSUFFICIENT_SCOPE})


def cross_site(request: Request[Any, Any, Any], exc: CrossSiteRefused) -> Response[Any] | Template:
    """403 for a cookie-authenticated POST from a foreign origin."""
    return _refusal(request, 403, str(exc), {})


def rate_limited(_: Request[Any, Any, Any], exc: RateLimited) -> Response[Any]:
    """429 with Retry-After; nothing was stored or published."""
    return Response(
        {"error": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)}
    )


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any] | Template:
    """Framework errors (404, 405, 413...) in flychat's JSON shape, or plain HTML for pages."""
    if _is_page(request):
        context = {"status": exc.status_code, "message": exc.detail}
        return Template("error.html", context=context, status_code=exc.status_code)
    return Response({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def unexpected_error(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """500 with a generic body; the details go to the log."""
    log.exception("unhandled error", exc_info=exc)
    return Response({"error": "internal server error"}, status_code=500)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    InvalidInput: invalid_input,
    MalformedBody: malformed_body,
    UnsupportedMediaType: unsupported_media,
    StorageUnavailable: storage_unavailable,
    NotAuthenticated: not_authenticated,
    NotAllowed: not_allowed,
    CrossSiteRefused: cross_site,
    RateLimited: rate_limited,
    HTTPException: http_error,
    Exception: unexpected_error,
}
