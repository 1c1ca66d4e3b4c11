"""Two `flychat serve` processes on one store, posting concurrently into one room."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from flychat.adapters.dynamodb.log import migrate_dynamo
from tests.support.dynamo import FAKE_AWS_ENV, moto_server, table_url, use_fake_aws
from tests.support.servers import FlychatProcess
from tests.support.sql import migrated_sqlite, postgres_database, run_async

POSTS_PER_CLIENT = 25
CLIENTS_PER_SERVER = 4


@contextmanager
def shared_store(kind: str, folder: Path) -> Iterator[dict[str, str]]:
    """The environment that points both app processes at one fresh store."""
    if kind == "sqlite":
        yield {"FLYCHAT_DATABASE_URL": migrated_sqlite(folder / "shared.db")}
    elif kind == "postgresql":
        with postgres_database() as url:
            yield {"FLYCHAT_DATABASE_URL": url}
    else:
        with pytest.MonkeyPatch.context() as patch, moto_server() as endpoint:
            use_fake_aws(patch)
            url = table_url(endpoint)
            run_async(lambda: migrate_dynamo(url))
            yield {"FLYCHAT_DATABASE_URL": url, **FAKE_AWS_ENV}


async def post_many(base_url: str, worker: int) -> list[int]:
    ids = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for i in range(POSTS_PER_CLIENT):
            response = await http.post(
                "/rooms/shared/messages/", data={"from": f"w{worker}", "text": f"{i}"}
            )
            assert response.status_code == 200, response.text
            ids.append(response.json()["id"])
    return ids


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), "dynamodb"]
)
async def test_two_processes_post_gaplessly_into_one_room(kind: str, tmp_path: Path) -> None:
    with shared_store(kind, tmp_path) as env:
        servers = [FlychatProcess(env), FlychatProcess(env)]
        try:
            await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))
            results = await asyncio.gather(
                *(
                    post_many(server.base_url, n * CLIENTS_PER_SERVER + k)
                    for n, server in enumerate(servers)
                    for k in range(CLIENTS_PER_SERVER)
                )
            )
            async with httpx.AsyncClient(base_url=servers[1].base_url) as http:
                stored = (await http.get("/rooms/shared/messages/?after=0&limit=500")).json()
        finally:
            for server in servers:
                server.stop()
    total = POSTS_PER_CLIENT * CLIENTS_PER_SERVER * len(servers)
    answered = sorted(i for ids in results for i in ids)
    assert answered == list(range(1, total + 1))
    assert [m["id"] for m in stored["messages"]] == list(range(1, total + 1))
    assert stored["lastEventId"] == total
    assert all(ids == sorted(ids) for ids in results)
