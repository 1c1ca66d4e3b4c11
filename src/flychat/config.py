"""Settings: read from the environment once, validated, frozen."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///./flychat.db"
STORE_SCHEMES = ("memory", "sqlite", "postgresql", "dynamodb")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything flychat can be configured with. See the README for each variable."""

    database_url: str = DEFAULT_DATABASE_URL
    grip_urls: tuple[str, ...] = ()
    grip_prefix: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    history_size: int = 50
    retention: int = 1000
    max_replay: int = 1000
    max_text_length: int = 4000
    max_body_bytes: int = 65536
    keepalive_seconds: float = 20.0
    sse_retry_ms: int = 1000
    link_timeout_seconds: int = 120
    direct_streaming: bool = True
    subscriber_queue: int = 1000
    gap_wait_seconds: float = 0.5
    log_level: str = "info"
    presence_ttl: int = 60
    presence_sweep_seconds: float = 5.0
    log_format: str = "text"
    metrics: bool = True

    @property
    def store_scheme(self) -> str:
        """The storage kind named by the database URL: memory, sqlite, postgresql, dynamodb."""
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    @property
    def grip_enabled(self) -> bool:
        """True when at least one GRIP proxy is configured."""
        return bool(self.grip_urls)


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not raw.strip().isdigit():
            raise ValueError(f"must be a whole number from {lo} to {hi}")
        value = int(raw.strip())
        if not lo <= value <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}")
        return value

    return parse


def _seconds(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number of seconds from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be a number of seconds from {lo} to {hi}")
        return value

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _database_url(raw: str) -> str:
    url = raw.strip()
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if ":" not in url or scheme not in STORE_SCHEMES:
        raise ValueError(
            f"must start with memory://, sqlite:///, postgresql:// or dynamodb:// (got {raw!r})"
        )
    if scheme == "dynamodb":
        from flychat.adapters.dynamodb.url import parse_dynamo_url

        parse_dynamo_url(url)
    elif scheme in ("sqlite", "postgresql"):
        from flychat.adapters.sql.engine import async_url

        _ = async_url(url).port
    return url


def _grip_urls(raw: str) -> tuple[str, ...]:
    from flychat.adapters.grip.proxy import parse_grip_url

    urls = tuple(part.strip() for part in raw.split(",") if part.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"each URL must start with http:// or https:// (got {url!r})")
        parse_grip_url(url)
    return urls


def _prefix(raw: str) -> str:
    if any(ch in raw for ch in " ,;\r\n\t"):
        raise ValueError("must not contain spaces, commas or semicolons")
    return raw


def _log_format(raw: str) -> str:
    fmt = raw.strip().lower()
    if fmt not in ("text", "json"):
        raise ValueError("must be text or json")
    return fmt


def _log_level(raw: str) -> str:
    level = raw.strip().lower()
    if level not in ("critical", "error", "warning", "info", "debug"):
        raise ValueError("must be one of critical, error, warning, info, debug")
    return level


_FIELDS: dict[str, tuple[str, Callable[[str], object]]] = {
    "FLYCHAT_DATABASE_URL": ("database_url", _database_url),
    "GRIP_URL": ("grip_urls", _grip_urls),
    "GRIP_PREFIX": ("grip_prefix", _prefix),
    "FLYCHAT_HOST": ("host", str.strip),
    "FLYCHAT_PORT": ("port", _int(0, 65535)),
    "FLYCHAT_HISTORY_SIZE": ("history_size", _int(1, 500)),
    "FLYCHAT_RETENTION": ("retention", _int(1, 10_000_000)),
    "FLYCHAT_MAX_REPLAY": ("max_replay", _int(1, 100_000)),
    "FLYCHAT_MAX_TEXT_LENGTH": ("max_text_length", _int(1, 60_000)),
    "FLYCHAT_MAX_BODY_BYTES": ("max_body_bytes", _int(1024, 16 * 1024 * 1024)),
    "FLYCHAT_KEEPALIVE_SECONDS": ("keepalive_seconds", _seconds(0.05, 3600)),
    "FLYCHAT_SSE_RETRY_MS": ("sse_retry_ms", _int(0, 600_000)),
    "FLYCHAT_GRIP_LINK_TIMEOUT": ("link_timeout_seconds", _int(1, 86_400)),
    "FLYCHAT_DIRECT_STREAMING": ("direct_streaming", _bool),
    "FLYCHAT_SUBSCRIBER_QUEUE": ("subscriber_queue", _int(10, 1_000_000)),
    "FLYCHAT_GAP_WAIT_SECONDS": ("gap_wait_seconds", _seconds(0.0, 60)),
    "FLYCHAT_LOG_LEVEL": ("log_level", _log_level),
    "FLYCHAT_PRESENCE_TTL": ("presence_ttl", _int(2, 86_400)),
    "FLYCHAT_PRESENCE_SWEEP_SECONDS": ("presence_sweep_seconds", _seconds(0.1, 10)),
    "FLYCHAT_LOG_FORMAT": ("log_format", _log_format),
    "FLYCHAT_METRICS": ("metrics", _bool),
}

ENV_VARIABLES = tuple(_FIELDS)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from ``environ`` (default: os.environ).

    Raise ConfigError naming the variable when a value is invalid.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for variable, (name, parse) in _FIELDS.items():
        raw = env.get(variable)
        if raw is None or (raw == "" and variable != "GRIP_PREFIX"):
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{variable}: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.history_size > settings.retention:
        raise ConfigError("FLYCHAT_HISTORY_SIZE: must not exceed FLYCHAT_RETENTION")
    if not settings.direct_streaming and not settings.grip_enabled:
        raise ConfigError("FLYCHAT_DIRECT_STREAMING: false needs GRIP_URL, or no stream is served")
    return settings
