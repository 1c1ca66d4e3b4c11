"""The app over real HTTP, once per store: memory, SQLite, PostgreSQL, DynamoDB (moto server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

import httpx
import pytest

from flychat.adapters.dynamodb.log import migrate_dynamo
from flychat.config import Settings
from flychat.domain.ratelimit import Rate
from flychat.entrypoints.app import create_app
from tests.support.dynamo import moto_server, table_url, use_fake_aws
from tests.support.servers import app_in_thread
from tests.support.sql import migrated_sqlite, postgres_database, run_async
from tests.support.tokens import SECRET

_rooms = count(1)

STORES = [
    "memory",
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    "dynamodb",
]


@contextmanager
def store_url(kind: str, folder: Path) -> Iterator[str]:
    """A ready, empty store of ``kind`` for the duration of the block."""
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        yield migrated_sqlite(folder / "e2e.db")
    elif kind == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        with pytest.MonkeyPatch.context() as patch, moto_server() as endpoint:
            use_fake_aws(patch)
            url = table_url(endpoint)
            run_async(lambda: migrate_dynamo(url))
            yield url


@pytest.fixture(scope="module", params=STORES)
def base_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("e2e")
    with store_url(request.param, folder) as url:
        settings = Settings(
            database_url=url,
            keepalive_seconds=0.3,
            retention=200,
            max_replay=100,
            gap_wait_seconds=0.2,
        )
        with app_in_thread(create_app(settings)) as base:
            yield base


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        yield http


@pytest.fixture
def room() -> str:
    return f"room-{next(_rooms)}"


AUTH_POST_RATE = Rate(5, 60)
CORS_ORIGIN = "https://app.example"


@pytest.fixture(scope="module", params=STORES)
def auth_base_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The app with identity and access on (secret ``SECRET``), once per store."""
    folder = tmp_path_factory.mktemp("e2e-auth")
    with store_url(request.param, folder) as url:
        settings = Settings(
            database_url=url,
            keepalive_seconds=0.3,
            auth_secret=SECRET,
            auth_leeway_seconds=0,
            cors_origins=(CORS_ORIGIN,),
            post_rate=AUTH_POST_RATE,
        )
        with app_in_thread(create_app(settings)) as base:
            yield base


@pytest.fixture
async def auth_client(auth_base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=auth_base_url, timeout=10) as http:
        yield http
