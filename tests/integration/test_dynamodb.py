"""The DynamoDB adapter against moto, in process and as a standalone server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from moto import mock_aws

from flychat.adapters.dynamodb.calls import make_client
from flychat.adapters.dynamodb.log import (
    TRIM_EVERY,
    DynamoMessageLog,
    migrate_dynamo,
    open_dynamo_log,
)
from flychat.adapters.dynamodb.url import parse_dynamo_url
from flychat.domain.errors import StorageUnavailable
from flychat.domain.messages import Chat
from flychat.domain.model import Draft, Message, RoomId
from tests.support.dynamo import (
    free_port,
    fresh_dynamo_log,
    moto_server,
    table_url,
    use_fake_aws,
)

ROOT = Path(__file__).resolve().parents[2]
ROOM = RoomId("lobby")
WHEN = datetime(2026, 11, 27, 21, 0, 0, 123000, tzinfo=UTC)


def draft(n: int, prefix: str = "pid") -> Draft:
    return Draft(f"{prefix}-{n:08d}", "alice", f"message {n}", WHEN)


def chat(log: DynamoMessageLog) -> Chat:
    return Chat(log, [], lambda: WHEN, lambda: str(uuid.uuid4()))


def stored_ids(url: str) -> list[int]:
    """Every id physically stored in the table, via a Scan (tests only)."""
    target = parse_dynamo_url(url)
    client = make_client(target)
    items = client.scan(TableName=target.table)["Items"]
    return sorted(int(i["id"]["N"]) for i in items)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["in-process", "server"])
def url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    use_fake_aws(monkeypatch)
    if request.param == "in-process":
        with mock_aws():
            yield table_url()
    else:
        yield table_url(request.getfixturevalue("moto_endpoint"))


@pytest.fixture
async def log(url: str) -> AsyncIterator[DynamoMessageLog]:
    async with fresh_dynamo_log(url) as opened:
        yield opened


async def test_empty_room_has_last_id_zero(log: DynamoMessageLog) -> None:
    assert (await log.latest(ROOM, 50)).last_id == 0
    assert (await log.latest(ROOM, 50)).messages == ()
    assert (await log.after(ROOM, 0, 50)).messages == ()
    assert (await log.after(ROOM, 7, 50)).last_id == 0
    assert (await log.before(ROOM, 10, 50)).messages == ()


async def test_messages_round_trip_with_millisecond_utc_dates(log: DynamoMessageLog) -> None:
    sent = Draft("round-trip-01", "zoë", "hi 👋\n\tthere", WHEN)
    stored = await log.append(ROOM, sent)
    assert stored == Message.from_draft(1, sent)
    (read,) = (await log.latest(ROOM, 10)).messages
    assert read == stored
    assert read.date.tzinfo is not None and read.date.utcoffset() == UTC.utcoffset(None)
    assert read.date.microsecond == 123000


async def test_latest_after_before(log: DynamoMessageLog) -> None:
    for n in range(1, 11):
        assert (await log.append(ROOM, draft(n))).id == n

    def ids(page_messages: tuple[Message, ...]) -> list[int]:
        return [m.id for m in page_messages]

    latest = await log.latest(ROOM, 3)
    assert (ids(latest.messages), latest.last_id) == ([8, 9, 10], 10)
    assert ids((await log.latest(ROOM, 50)).messages) == list(range(1, 11))
    assert ids((await log.after(ROOM, 7, 2)).messages) == [8, 9]
    assert ids((await log.after(ROOM, 0, 3)).messages) == [1, 2, 3]
    after_end = await log.after(ROOM, 10, 5)
    assert (after_end.messages, after_end.last_id) == ((), 10)
    beyond = await log.after(ROOM, 2**62, 5)
    assert (beyond.messages, beyond.last_id) == ((), 10)
    assert ids((await log.before(ROOM, 5, 2)).messages) == [3, 4]
    assert ids((await log.before(ROOM, 100, 3)).messages) == [8, 9, 10]
    assert (await log.before(ROOM, 1, 5)).messages == ()
    assert (await log.before(ROOM, 5, 2)).last_id == 10
    assert (await log.latest(RoomId("other"), 5)).last_id == 0


async def test_concurrent_appends_are_gapless(url: str, log: DynamoMessageLog) -> None:
    async with open_dynamo_log(url) as second:
        posts = [chat(log if n % 2 else second).post(ROOM, "bob", f"m{n}") for n in range(50)]
        messages = await asyncio.gather(*posts)
    assert sorted(m.id for m in messages) == list(range(1, 51))
    assert stored_ids(url) == list(range(1, 51))
    assert len({m.provisional_id for m in messages}) == 50


async def test_gather_of_50_on_one_adapter(url: str, log: DynamoMessageLog) -> None:
    messages = await asyncio.gather(*(log.append(ROOM, draft(n)) for n in range(50)))
    assert sorted(m.id for m in messages) == list(range(1, 51))
    assert stored_ids(url) == list(range(1, 51))


async def test_stale_cache_is_corrected_on_conflict(url: str, log: DynamoMessageLog) -> None:
    assert (await log.append(ROOM, draft(1))).id == 1
    async with open_dynamo_log(url) as other:
        for n in (2, 3, 4):
            assert (await other.append(ROOM, draft(n))).id == n
    assert (await log.append(ROOM, draft(5))).id == 5
    assert stored_ids(url) == [1, 2, 3, 4, 5]


async def test_repeated_provisional_id_returns_stored_message(
    url: str, log: DynamoMessageLog
) -> None:
    first = await log.append(ROOM, draft(1))
    again = await log.append(ROOM, Draft(first.provisional_id, "mallory", "other text", WHEN))
    assert again == first
    async with open_dynamo_log(url) as other:
        assert await other.append(ROOM, draft(1)) == first
        assert (await other.append(ROOM, draft(2))).id == 2
    assert stored_ids(url) == [1, 2]
    assert (await log.append(RoomId("elsewhere"), draft(1))).id == 1


async def test_concurrent_duplicates_store_one_message(url: str, log: DynamoMessageLog) -> None:
    await log.append(ROOM, draft(0))
    async with open_dynamo_log(url) as second:
        posts = [
            chat(log if n % 2 else second).post(ROOM, "carol", "once", "dup-provisional-1")
            for n in range(10)
        ]
        messages = await asyncio.gather(*posts)
    assert {m.id for m in messages} == {2}
    assert stored_ids(url) == [1, 2]


async def test_retention_keeps_newest_and_last_id(url: str) -> None:
    async with fresh_dynamo_log(url, retention=5) as log:
        for n in range(1, 61):
            await log.append(ROOM, draft(n))
        latest = await log.latest(ROOM, 50)
        assert ([m.id for m in latest.messages], latest.last_id) == ([56, 57, 58, 59, 60], 60)
        assert (await log.after(ROOM, 10, 100)).messages[0].id == 56
        assert [m.id for m in (await log.before(ROOM, 58, 10)).messages] == [56, 57]
    physical = stored_ids(url)
    assert physical[-5:] == [56, 57, 58, 59, 60]
    assert len(physical) <= 5 + TRIM_EVERY
    async with open_dynamo_log(url, retention=5) as fresh:
        assert (await fresh.append(ROOM, draft(61))).id == 61


async def test_retention_of_one_never_loses_the_last_id(url: str) -> None:
    async with fresh_dynamo_log(url, retention=1) as log:
        for n in range(1, 2 * TRIM_EVERY + 1):
            await log.append(ROOM, draft(n))
    assert stored_ids(url)[-1] == 2 * TRIM_EVERY
    async with open_dynamo_log(url, retention=1) as fresh:
        page = await fresh.latest(ROOM, 10)
        assert ([m.id for m in page.messages], page.last_id) == ([50], 50)
        assert (await fresh.append(ROOM, draft(99))).id == 51


async def test_pages_never_have_holes(url: str, log: DynamoMessageLog) -> None:
    for n in range(1, 11):
        await log.append(ROOM, draft(n))
    target = parse_dynamo_url(url)
    make_client(target).delete_item(
        TableName=target.table, Key={"room": {"S": ROOM.value}, "id": {"N": "3"}}
    )
    assert [m.id for m in (await log.after(ROOM, 0, 50)).messages] == list(range(4, 11))
    assert [m.id for m in (await log.latest(ROOM, 50)).messages] == list(range(4, 11))
    assert [m.id for m in (await log.before(ROOM, 8, 50)).messages] == [4, 5, 6, 7]


async def test_pages_larger_than_one_query_response(log: DynamoMessageLog) -> None:
    text = "€" * 4000
    for n in range(1, 301):
        await log.append(ROOM, Draft(f"big-{n:08d}", "dave", text, WHEN))
    assert [m.id for m in (await log.latest(ROOM, 300)).messages] == list(range(1, 301))
    assert [m.id for m in (await log.after(ROOM, 0, 500)).messages] == list(range(1, 301))
    assert [m.id for m in (await log.before(ROOM, 301, 250)).messages] == list(range(51, 301))


async def test_migrate_is_idempotent(url: str) -> None:
    assert await migrate_dynamo(url) is True
    assert await migrate_dynamo(url) is False
    target = parse_dynamo_url(url)
    table = make_client(target).describe_table(TableName=target.table)["Table"]
    assert table.get("TableStatus") == "ACTIVE"
    assert table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"


async def test_migrate_refuses_a_foreign_table(url: str) -> None:
    target = parse_dynamo_url(url)
    make_client(target).create_table(
        TableName=target.table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(ValueError, match="layout"):
        await migrate_dynamo(url)


async def test_missing_table_is_storage_unavailable(url: str) -> None:
    async with open_dynamo_log(url) as log:
        with pytest.raises(StorageUnavailable, match="flychat migrate"):
            await log.append(ROOM, draft(1))
        with pytest.raises(StorageUnavailable, match="flychat migrate"):
            await log.latest(ROOM, 5)
        with pytest.raises(StorageUnavailable):
            await log.check()


async def test_check_passes_on_a_live_table(log: DynamoMessageLog) -> None:
    await log.check()


async def test_closed_port_is_storage_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(monkeypatch)
    url = table_url(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    async with open_dynamo_log(url) as log:
        for call in (log.check(), log.append(ROOM, draft(1)), log.latest(ROOM, 5)):
            with pytest.raises(StorageUnavailable, match="unreachable"):
                await call
    with pytest.raises(StorageUnavailable):
        await migrate_dynamo(url)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "bad",
    ["dynamodb://", "dynamodb://ab", "dynamodb://t?regon=x", "dynamodb://tbl?endpoint_url=ftp://x"],
)
async def test_bad_url_is_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        async with open_dynamo_log(bad):
            pass


@pytest.mark.slow
async def test_two_processes_append_gaplessly(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_fake_aws(monkeypatch)
    url = table_url(moto_endpoint)
    await migrate_dynamo(url)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    per_process = 100
    start_at = f"{time.time() + 2.0:.3f}"
    writers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.dynamo_writer",
            url,
            ROOM.value,
            str(per_process),
            prefix,
            start_at,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        for prefix in ("proc-a", "proc-b")
    ]
    outputs = [json.loads((await w.communicate())[0]) for w in writers]
    assert [w.returncode for w in writers] == [0, 0]
    ids = sorted(i for out in outputs for i in out["ids"])
    assert ids == list(range(1, 2 * per_process + 1))
    assert stored_ids(url) == ids
    print("conflicts per process:", [out["conflicts"] for out in outputs])
