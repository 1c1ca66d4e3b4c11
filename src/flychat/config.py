"""Settings: read from the environment once, validated, frozen."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flychat.domain.ratelimit import Rate

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
    auth_secret: str | None = None
    auth_public_key: str | None = None
    """The PEM text of the key that FLYCHAT_AUTH_PUBLIC_KEY names."""
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_leeway_seconds: float = 30.0
    cors_origins: tuple[str, ...] = ()
    post_rate: Rate | None = None
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @property
    def auth_enabled(self) -> bool:
        """True when tokens are required (a secret or a public key is configured)."""
        return self.auth_secret is not None or self.auth_public_key is not None

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


def _secret(raw: str) -> str:
    from flychat.adapters.tokens import check_secret

    return check_secret(raw)


def _public_key(raw: str) -> str:
    from flychat.adapters.tokens import public_key_algorithms

    path = Path(raw.strip())
    try:
        pem = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc}") from None
    public_key_algorithms(pem)
    return pem


def _text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    origins = []
    for part in raw.split(","):
        origin = part.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ValueError(f"each origin must look like https://host[:port] (got {origin!r})")
        origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(origins)


def _rate(raw: str) -> Rate:
    count, slash, seconds = raw.strip().partition("/")
    if not slash or not count.isdigit() or int(count) < 1:
        raise ValueError(f"must look like N/SECONDS, e.g. 10/60 (got {raw!r})")
    try:
        window = float(seconds)
    except ValueError:
        raise ValueError(f"must look like N/SECONDS, e.g. 10/60 (got {raw!r})") from None
    if not 0.001 <= window <= 86_400:
        raise ValueError("the window must be from 0.001 to 86400 seconds")
    return Rate(int(count), window)


def _networks(raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.split(",")
            if part.strip()
        )
    except ValueError as exc:
        raise ValueError(f"must be IP addresses or networks, comma-separated ({exc})") from None


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
    "FLYCHAT_AUTH_SECRET": ("auth_secret", _secret),
    "FLYCHAT_AUTH_PUBLIC_KEY": ("auth_public_key", _public_key),
    "FLYCHAT_AUTH_ISSUER": ("auth_issuer", _text),
    "FLYCHAT_AUTH_AUDIENCE": ("auth_audience", _text),
    "FLYCHAT_AUTH_LEEWAY_SECONDS": ("auth_leeway_seconds", _seconds(0, 600)),
    "FLYCHAT_CORS_ORIGINS": ("cors_origins", _origins),
    "FLYCHAT_POST_RATE": ("post_rate", _rate),
    "FLYCHAT_TRUSTED_PROXIES": ("trusted_proxies", _networks),
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
    if env.get("FLYCHAT_AUTH_SECRET") and env.get("FLYCHAT_AUTH_PUBLIC_KEY"):
        raise ConfigError(
            "FLYCHAT_AUTH_PUBLIC_KEY: set either FLYCHAT_AUTH_SECRET or FLYCHAT_AUTH_PUBLIC_KEY, "
            "not both"
        )
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
