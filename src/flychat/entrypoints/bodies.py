"""Decoding POST bodies (form, multipart, JSON) into plain fields, strictly."""

from __future__ import annotations

import json
from collections.abc import Iterable
from io import BytesIO
from typing import Any
from urllib.parse import parse_qsl

import multipart
from litestar import Request
from litestar.exceptions import InternalServerException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Receive

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
JSON = "application/json"
FIELDS = ("from", "text", "provisionalId", "typing", "leave")


class UnsupportedMediaType(Exception):
    """The Content-Type is not one flychat accepts."""


class MalformedBody(Exception):
    """The body cannot be decoded as its Content-Type says."""


def media_type(content_type: str | None) -> tuple[str, dict[str, str]]:
    """Split a Content-Type header into its lowercased type and parameters."""
    if not content_type:
        return "", {}
    head, *rest = content_type.split(";")
    params: dict[str, str] = {}
    for item in rest:
        key, _, value = item.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return head.strip().lower(), params


def check_media_type(content_type: str | None) -> str:
    """Return the accepted media type, or raise UnsupportedMediaType."""
    kind, params = media_type(content_type)
    if kind not in (FORM, MULTIPART, JSON):
        raise UnsupportedMediaType(
            f"Content-Type must be {FORM}, {MULTIPART} or {JSON} (got {content_type or 'none'!r})"
        )
    charset = params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("only the utf-8 charset is supported")
    return kind


def _utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("the body is not valid UTF-8") from None


def _form(body: bytes) -> dict[str, object]:
    text = _utf8(body)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise MalformedBody("the form body is not valid UTF-8 once percent-decoded") from None
    fields: dict[str, object] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


def _multipart(body: bytes, content_type: str) -> dict[str, object]:
    _, params = media_type(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise MalformedBody("multipart/form-data needs a boundary")
    fields: dict[str, object] = {}
    try:
        parser = multipart.MultipartParser(
            BytesIO(body), boundary, len(body), charset="utf-8", strict=True
        )
        for part in parser:
            if part.name in FIELDS and part.name not in fields:
                fields[part.name] = _utf8(part.raw)
    except multipart.MultipartError as exc:
        raise MalformedBody(f"malformed multipart body: {exc}") from None
    return fields


def _json(body: bytes) -> dict[str, object]:
    try:
        value = json.loads(_utf8(body))
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"malformed JSON: {exc.msg} at position {exc.pos}") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(f"JSON the server will not read: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedBody("the JSON body must be an object")
    return value


def decode_fields(kind: str, content_type: str, body: bytes) -> dict[str, object]:
    """The body's fields for the accepted media ``kind``; raise MalformedBody."""
    if kind == JSON:
        return _json(body)
    if kind == MULTIPART:
        return _multipart(body, content_type)
    return _form(body)


def _content_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, int | None]:
    content_type = length = None
    for name, value in headers:
        if name == b"content-type" and content_type is None:
            content_type = value.decode("latin-1")
        elif name == b"content-length" and value.isdigit():
            length = int(value)
    return content_type, length


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body from the ASGI channel; RequestEntityTooLarge past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise InternalServerException("client disconnected prematurely")
        body: bytes = event.get("body", b"")  # type: ignore[assignment]
        size += len(body)
        if size > limit:
            raise RequestEntityTooLarge
        if not event.get("more_body", False):
            if not chunks:
                return body
            chunks.append(body)
            return b"".join(chunks)
        chunks.append(body)


async def body_fields(request: Request[Any, Any, Any], limit: int) -> dict[str, object]:
    """The POST body's fields, checked in order: 413 (over ``limit`` bytes), 415, then 400."""
    content_type, announced = _content_headers(request.scope["headers"])
    if announced is not None and announced > limit:
        raise RequestEntityTooLarge
    body = await read_body(request.receive, limit)
    kind = check_media_type(content_type)
    return decode_fields(kind, content_type or "", body)
