"""The composition root: settings -> adapters -> services."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flychat.adapters.grip.expiry import ExpiryCloser
from flychat.adapters.grip.proxy import parse_grip_url
from flychat.adapters.grip.publisher import GripPublisher
from flychat.adapters.local_broker import LocalBroker
from flychat.adapters.memory import InMemoryMessageLog, InMemoryPresenceStore
from flychat.adapters.tokens import JwtVerifier, issue_token
from flychat.config import Settings
from flychat.domain.messages import Chat, ChatRules
from flychat.domain.metrics import NO_METRICS, ChatMetrics, RequestMetrics
from flychat.domain.ports import LiveFeed, MessageLog, PresenceStore, Publisher, TokenVerifier
from flychat.domain.presence import Presence, PresenceRules
from flychat.domain.ratelimit import RateLimiter

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


@dataclass
class Services:
    """Everything the entrypoints need, built once per app."""

    settings: Settings
    chat: Chat
    feed: LiveFeed
    presence: Presence
    grip_sig_keys: tuple[bytes | str, ...] = ()
    verifier: TokenVerifier | None = None
    limiter: RateLimiter | None = None

    def __post_init__(self) -> None:
        if self.verifier is None and self.settings.auth_enabled:
            self.verifier = token_verifier(self.settings)
        if self.limiter is None and self.settings.post_rate is not None:
            self.limiter = RateLimiter(self.settings.post_rate, time.monotonic)


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def new_provisional_id() -> str:
    """A fresh provisional id: a random (version 4) UUID as text, as ``str(uuid.uuid4())``."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_VARIANT = "89ab"


@asynccontextmanager
async def open_message_log(settings: Settings) -> AsyncIterator[MessageLog]:
    """Open the store named by ``settings.database_url`` for the lifetime of the block."""
    scheme = settings.store_scheme
    if scheme == "memory":
        yield InMemoryMessageLog(retention=settings.retention)
    elif scheme in ("sqlite", "postgresql"):
        from flychat.adapters.sql.log import open_sql_log

        async with open_sql_log(settings.database_url, retention=settings.retention) as log:
            yield log
    elif scheme == "dynamodb":
        from flychat.adapters.dynamodb.log import open_dynamo_log

        async with open_dynamo_log(settings.database_url, retention=settings.retention) as log:
            yield log
    else:
        raise ValueError(f"unsupported store {scheme!r}")


def token_verifier(settings: Settings) -> TokenVerifier | None:
    """The verifier of access tokens that the settings configure; None in open mode."""
    if not settings.auth_enabled:
        return None
    return JwtVerifier(
        secret=settings.auth_secret,
        public_key=settings.auth_public_key,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        leeway_seconds=settings.auth_leeway_seconds,
    )


def sign_token(
    settings: Settings,
    sub: str,
    *,
    name: str | None = None,
    read: tuple[str, ...] = (),
    post: tuple[str, ...] = (),
    ttl_seconds: float = 3600,
) -> str:
    """A token signed with ``FLYCHAT_AUTH_SECRET`` (with the configured ``iss``/``aud``).

    Raise ValueError when no secret is configured (a public key cannot sign).
    """
    if settings.auth_secret is None:
        if settings.auth_public_key is not None:
            raise ValueError(
                "flychat token signs with FLYCHAT_AUTH_SECRET; with FLYCHAT_AUTH_PUBLIC_KEY "
                "tokens are signed by whoever holds the private key"
            )
        raise ValueError("flychat token needs FLYCHAT_AUTH_SECRET to sign with")
    return issue_token(
        settings.auth_secret,
        sub,
        name=name,
        read=read,
        post=post,
        ttl_seconds=ttl_seconds,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
    )


@asynccontextmanager
async def open_stores(settings: Settings) -> AsyncIterator[tuple[MessageLog, PresenceStore]]:
    """Open the message log and the presence store of ``settings.database_url``."""
    scheme = settings.store_scheme
    if scheme == "memory":
        yield InMemoryMessageLog(retention=settings.retention), InMemoryPresenceStore()
    elif scheme in ("sqlite", "postgresql"):
        from flychat.adapters.sql.presence import open_sql_stores

        async with open_sql_stores(settings.database_url, settings.retention) as stores:
            yield stores
    elif scheme == "dynamodb":
        from flychat.adapters.dynamodb.presence import open_dynamo_presence

        async with (
            open_message_log(settings) as log,
            open_dynamo_presence(settings.database_url) as presence,
        ):
            yield log, presence
    else:
        raise ValueError(f"unsupported store {scheme!r}")


def presence_rules(settings: Settings) -> PresenceRules:
    """The presence limits, taken from the settings."""
    return PresenceRules(
        ttl_seconds=settings.presence_ttl, sweep_seconds=settings.presence_sweep_seconds
    )


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def chat_rules(settings: Settings) -> ChatRules:
    """The domain's limits, taken from the settings."""
    return ChatRules(
        max_text_length=settings.max_text_length,
        history_size=settings.history_size,
        max_replay=settings.max_replay,
    )


def chat_metrics(registry: CollectorRegistry | None) -> ChatMetrics:
    """The ``flychat_*`` metrics in ``registry``; with None, an observer that records nothing."""
    if registry is None:
        return NO_METRICS
    from flychat.adapters.prometheus import PrometheusChatMetrics

    return PrometheusChatMetrics(registry)


def request_metrics(registry: CollectorRegistry) -> RequestMetrics:
    """The ``flychat_http_*`` request metrics in ``registry``."""
    from flychat.adapters.prometheus import PrometheusHttpMetrics

    return PrometheusHttpMetrics(registry)


@asynccontextmanager
async def build_services(
    settings: Settings, metrics: ChatMetrics = NO_METRICS
) -> AsyncIterator[Services]:
    """Open every adapter the settings name and wire the services over them."""
    async with AsyncExitStack() as stack:
        log, presence_store = await stack.enter_async_context(open_stores(settings))
        broker = LocalBroker(queue_size=settings.subscriber_queue)
        publishers: list[Publisher] = [broker]
        grip_sig_keys: tuple[bytes | str, ...] = ()
        if settings.grip_enabled:
            proxies = [parse_grip_url(url) for url in settings.grip_urls]
            grip = GripPublisher(proxies, settings.grip_prefix, metrics=metrics)
            await grip.start()
            stack.push_async_callback(grip.close)
            publishers.append(grip)
            grip_sig_keys = tuple(p.sig_key for p in proxies if p.sig_key is not None)
            if settings.auth_enabled:
                closer = ExpiryCloser(grip, settings.grip_prefix)
                closer.start()
                stack.push_async_callback(closer.stop)
        chat = Chat(
            log, publishers, utc_now, new_provisional_id, chat_rules(settings), metrics=metrics
        )
        presence = Presence(presence_store, publishers, utc_now, presence_rules(settings))
        sweeper = asyncio.create_task(presence.run_sweeps(), name="flychat-presence-sweeper")
        stack.push_async_callback(_stop, sweeper)
        yield Services(settings, chat, feed=broker, presence=presence, grip_sig_keys=grip_sig_keys)


async def migrate_store(settings: Settings) -> None:
    """Bring the configured store's schema up to date (memory: nothing to do)."""
    scheme = settings.store_scheme
    if scheme in ("sqlite", "postgresql"):
        from flychat.adapters.sql.migrate import migrate_sql

        await migrate_sql(settings.database_url)
    elif scheme == "dynamodb":
        from flychat.adapters.dynamodb.table import migrate_dynamo

        await migrate_dynamo(settings.database_url)
