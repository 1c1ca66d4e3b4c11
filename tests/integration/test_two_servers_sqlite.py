"""Two `flychat serve` processes on one SQLite file, posting concurrently into one room."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.support.servers import FlychatProcess

POSTS_PER_CLIENT = 40
CLIENTS_PER_SERVER = 4


async def test_two_processes_share_one_sqlite_file_gaplessly(tmp_path: Path) -> None:
    env = {"FLYCHAT_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    servers = [FlychatProcess(env), FlychatProcess(env)]
    try:
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))

        async def client(base_url: str, worker: int) -> list[int]:
            ids = []
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                for i in range(POSTS_PER_CLIENT):
                    response = await http.post(
                        "/rooms/shared/messages/", data={"from": f"w{worker}", "text": f"{i}"}
                    )
                    assert response.status_code == 200, response.text
                    ids.append(response.json()["id"])
            return ids

        results = await asyncio.gather(
            *(
                client(server.base_url, n * CLIENTS_PER_SERVER + k)
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
    for ids in results:
        assert ids == sorted(ids)
