from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from itertools import count

import httpx
import pytest

from flychat.config import Settings
from flychat.entrypoints.app import create_app
from tests.support.servers import app_in_thread

_rooms = count(1)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    settings = Settings(
        database_url="memory://",
        keepalive_seconds=0.3,
        retention=200,
        max_replay=100,
        gap_wait_seconds=0.2,
    )
    with app_in_thread(create_app(settings)) as url:
        yield url


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        yield http


@pytest.fixture
def room() -> str:
    return f"room-{next(_rooms)}"
