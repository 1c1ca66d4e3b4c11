"""The stores the MessageLog contract suite runs against.

Every entry of ``STORES`` is one adapter: an async context manager factory taking
the test's ``request`` and the retention to use, yielding a ``Store``. To add an
adapter, write one such factory and add it to ``STORES``; every contract test then
runs against it too.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flychat.adapters.dynamodb.presence import open_dynamo_presence
from flychat.adapters.memory import InMemoryMessageLog, InMemoryPresenceStore
from flychat.adapters.sql.log import open_sql_log
from flychat.adapters.sql.presence import open_sql_presence
from flychat.domain.model import RoomId
from flychat.domain.ports import MessageLog, PresenceStore
from tests.support.dynamo import moto_dynamo
from tests.support.sql import closed_port, migrated_sqlite, postgres_database, sqlite_url


@dataclass
class Store:
    """A MessageLog under test and what the suite needs around it."""

    log: MessageLog
    another: Callable[[], AbstractAsyncContextManager[MessageLog]]
    """Opens a second, independent client (engine, connection pool...) of the same store."""
    dead: Callable[[], AbstractAsyncContextManager[MessageLog]]
    """Opens a client of a store that cannot be reached."""


StoreFactory = Callable[[pytest.FixtureRequest, int], AbstractAsyncContextManager[Store]]


@asynccontextmanager
async def memory_store(request: pytest.FixtureRequest, retention: int) -> AsyncIterator[Store]:
    log = InMemoryMessageLog(retention=retention)

    @asynccontextmanager
    async def dead() -> AsyncIterator[MessageLog]:
        broken = InMemoryMessageLog(retention=retention)
        broken.available = False
        yield broken

    yield Store(log, lambda: nullcontext(log), dead)


@asynccontextmanager
async def _sql_store(url: str, dead_url: str, retention: int) -> AsyncIterator[Store]:
    async with open_sql_log(url, retention) as log:
        yield Store(
            log,
            lambda: open_sql_log(url, retention),
            lambda: open_sql_log(dead_url, retention),
        )


@asynccontextmanager
async def sqlite_store(request: pytest.FixtureRequest, retention: int) -> AsyncIterator[Store]:
    tmp: Path = request.getfixturevalue("tmp_path")
    template: Path = request.getfixturevalue("sqlite_template")
    path, dead = tmp / "contract.db", tmp / "not-a-database.db"
    await asyncio.to_thread(shutil.copyfile, template, path)
    await asyncio.to_thread(dead.write_bytes, b"this is not a SQLite database file" * 200)
    async with _sql_store(sqlite_url(path), sqlite_url(dead), retention) as store:
        yield store


@asynccontextmanager
async def postgresql_store(request: pytest.FixtureRequest, retention: int) -> AsyncIterator[Store]:
    url: str = request.getfixturevalue("postgres_url")
    dead = f"postgresql://postgres@127.0.0.1:{closed_port()}/test"
    async with _sql_store(url, dead, retention) as store:
        yield store


@asynccontextmanager
async def dynamodb_store(request: pytest.FixtureRequest, retention: int) -> AsyncIterator[Store]:
    async with moto_dynamo(request.getfixturevalue("monkeypatch"), retention) as c:
        yield Store(c.log, c.another, c.dead)


STORES: dict[str, StoreFactory] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
    "postgresql": postgresql_store,
    "dynamodb": dynamodb_store,
}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test works on its own copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrated_sqlite(path)
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database shared by the session (tests use their own rooms)."""
    with postgres_database() as url:
        yield url


MARKS: dict[str, pytest.MarkDecorator] = {"postgresql": pytest.mark.postgres}
"""Markers for the adapters that need an external service (select with ``-m``)."""


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, ())) for name in STORES])
def open_store(request: pytest.FixtureRequest) -> Callable[[int], Any]:
    """Opens the parametrised adapter's store with a given retention."""
    factory = STORES[request.param]
    return lambda retention: factory(request, retention)


@pytest.fixture
async def store(open_store: Callable[[int], Any]) -> AsyncIterator[Store]:
    """The parametrised adapter's store with the default retention (1000)."""
    async with open_store(1000) as opened:
        yield opened


@pytest.fixture
def room() -> RoomId:
    """A room no other test uses."""
    return RoomId(f"r-{uuid.uuid4().hex[:16]}")


@dataclass
class PresenceUnderTest:
    """A PresenceStore under test and a way to open a second, independent client of it."""

    store: PresenceStore
    another: Callable[[], AbstractAsyncContextManager[PresenceStore]]
    dead: Callable[[], AbstractAsyncContextManager[PresenceStore]]


PresenceFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[PresenceUnderTest]]


@asynccontextmanager
async def memory_presence(request: pytest.FixtureRequest) -> AsyncIterator[PresenceUnderTest]:
    store = InMemoryPresenceStore()

    @asynccontextmanager
    async def dead() -> AsyncIterator[PresenceStore]:
        broken = InMemoryPresenceStore()
        broken.available = False
        yield broken

    yield PresenceUnderTest(store, lambda: nullcontext(store), dead)


@asynccontextmanager
async def _sql_presence(url: str, dead_url: str) -> AsyncIterator[PresenceUnderTest]:
    async with open_sql_presence(url) as store:
        yield PresenceUnderTest(
            store, lambda: open_sql_presence(url), lambda: open_sql_presence(dead_url)
        )


@asynccontextmanager
async def sqlite_presence(request: pytest.FixtureRequest) -> AsyncIterator[PresenceUnderTest]:
    tmp: Path = request.getfixturevalue("tmp_path")
    template: Path = request.getfixturevalue("sqlite_template")
    path, dead = tmp / "presence.db", tmp / "not-a-database.db"
    await asyncio.to_thread(shutil.copyfile, template, path)
    await asyncio.to_thread(dead.write_bytes, b"this is not a SQLite database file" * 200)
    async with _sql_presence(sqlite_url(path), sqlite_url(dead)) as under_test:
        yield under_test


@asynccontextmanager
async def postgresql_presence(request: pytest.FixtureRequest) -> AsyncIterator[PresenceUnderTest]:
    url: str = request.getfixturevalue("postgres_url")
    dead = f"postgresql://postgres@127.0.0.1:{closed_port()}/test"
    async with _sql_presence(url, dead) as under_test:
        yield under_test


@asynccontextmanager
async def dynamodb_presence(request: pytest.FixtureRequest) -> AsyncIterator[PresenceUnderTest]:
    async with moto_dynamo(request.getfixturevalue("monkeypatch"), 1000) as clients:
        url, dead = clients.url, clients.dead_url
        async with open_dynamo_presence(url) as store:
            yield PresenceUnderTest(
                store, lambda: open_dynamo_presence(url), lambda: open_dynamo_presence(dead)
            )


PRESENCE_STORES: dict[str, PresenceFactory] = {
    "memory": memory_presence,
    "sqlite": sqlite_presence,
    "postgresql": postgresql_presence,
    "dynamodb": dynamodb_presence,
}


@pytest.fixture(params=[pytest.param(name, marks=MARKS.get(name, ())) for name in PRESENCE_STORES])
async def presence(request: pytest.FixtureRequest) -> AsyncIterator[PresenceUnderTest]:
    """The parametrised adapter's PresenceStore on a fresh (or shared, room-isolated) store."""
    async with PRESENCE_STORES[request.param](request) as under_test:
        yield under_test
