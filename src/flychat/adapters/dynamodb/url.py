"""Parsing ``dynamodb://TABLE?region=R&endpoint_url=URL`` into a DynamoTarget."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

_TABLE_RE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_REGION_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,49}")
_KNOWN = ("region", "endpoint_url")
_FORM = "dynamodb://TABLE?region=REGION&endpoint_url=URL (both parameters optional)"


@dataclass(frozen=True, slots=True)
class DynamoTarget:
    """Where the DynamoDB table lives: name, optional region and endpoint."""

    table: str
    region: str | None = None
    endpoint_url: str | None = None


def parse_dynamo_url(url: str) -> DynamoTarget:
    """Parse a ``dynamodb://`` URL; raise ValueError saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme != "dynamodb":
        raise ValueError(f"not a DynamoDB URL (expected {_FORM}): {url!r}")
    if parts.path or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"unexpected path, fragment or credentials (expected {_FORM}): {url!r}")
    table = parts.netloc
    if not _TABLE_RE.fullmatch(table):
        raise ValueError(
            f"DynamoDB table name must be 3-255 characters from A-Z a-z 0-9 _ . - (got {table!r})"
        )
    try:
        params = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError(f"malformed query string in DynamoDB URL: {url!r}") from None
    unknown = sorted(set(params) - set(_KNOWN))
    if unknown:
        raise ValueError(f"unknown DynamoDB URL parameter(s) {unknown} (expected {_FORM})")
    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        raise ValueError(f"DynamoDB URL parameter(s) {repeated} given more than once")
    region = params.get("region", [None])[0]
    endpoint = params.get("endpoint_url", [None])[0]
    if region is not None and not _REGION_RE.fullmatch(region):
        raise ValueError(f"DynamoDB region looks wrong (e.g. eu-west-1): {region!r}")
    if endpoint is not None:
        target = urlsplit(endpoint)
        if target.scheme not in ("http", "https") or not target.hostname:
            raise ValueError(f"endpoint_url must be an http:// or https:// URL: {endpoint!r}")
    return DynamoTarget(table, region, endpoint)
