"""The DynamoDB MessageLog: gapless ids by conditional PutItem, idempotent on provisional id.

See docs/storage-dynamodb.md for the table layout and the exact guarantees.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING

from flychat.adapters.dynamodb.calls import Conflict, DynamoCalls, make_client
from flychat.adapters.dynamodb.items import (
    ID,
    PID,
    PID_INDEX,
    ROOM,
    Item,
    from_item,
    item_id,
    key,
    to_item,
)
from flychat.adapters.dynamodb.table import migrate_dynamo
from flychat.adapters.dynamodb.url import parse_dynamo_url
from flychat.domain.errors import AppendConflict, StorageUnavailable
from flychat.domain.model import Draft, Message, Page, RoomId

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        QueryInputTypeDef,
        QueryOutputTypeDef,
        WriteRequestUnionTypeDef,
    )

__all__ = ["DynamoMessageLog", "migrate_dynamo", "open_dynamo_log"]

log = logging.getLogger(__name__)

APPEND_DEADLINE_SECONDS = 3.0
REFRESH_EVERY = 8
TRIM_EVERY = 25
TRIM_BATCH = 100
LOCK_STRIPES = 64
CACHED_ROOMS = 65_536
_TOP = 2**63
_CHECK_ROOM = "#check"


class DynamoMessageLog:
    """A MessageLog over one DynamoDB table, one item per message."""

    def __init__(self, calls: DynamoCalls, retention: int = 1000) -> None:
        if retention < 1:
            raise ValueError("retention must be at least 1")
        self.retention = retention
        self._calls = calls
        self._client = calls.client
        self._table = calls.table
        self._locks = tuple(asyncio.Lock() for _ in range(LOCK_STRIPES))
        self._last: OrderedDict[str, int] = OrderedDict()
        self._trims: dict[str, asyncio.Task[None]] = {}

    async def append(self, room: RoomId, draft: Draft) -> Message:
        """Store the draft as the room's next message; idempotent on its provisional id.

        Happy path: one consistent query of the provisional-id index, then one
        conditional PutItem. Lost races are retried here until a deadline, then
        ``AppendConflict`` is raised.
        """
        name = room.value
        clock = asyncio.get_running_loop().time
        async with self._locks[hash(name) % LOCK_STRIPES]:
            deadline = clock() + APPEND_DEADLINE_SECONDS
            cached = self._last.get(name)
            known = await self._read_last_id(name) if cached is None else cached
            checked = 0
            attempt = 0
            while attempt == 0 or clock() < deadline:
                if attempt % REFRESH_EVERY == 2:
                    known = max(known, await self._read_last_id(name))
                if checked < known:
                    found = await self._find_provisional(name, draft.provisional_id)
                    if found is not None:
                        return found
                    checked = known
                message = Message.from_draft(known + 1, draft)
                try:
                    await self._put_new(name, message)
                except Conflict as conflict:
                    mine = _same_provisional(conflict.existing, draft.provisional_id)
                    if mine is not None:
                        self._remember(name, mine.id)
                        return mine
                    known = message.id
                    checked = known if conflict.existing is not None else checked
                    attempt += 1
                    continue
                self._remember(name, message.id)
                self._schedule_trim(name, message.id)
                return message
            self._last.pop(name, None)
        raise AppendConflict(f"other writers kept taking the next id for {attempt} tries")

    async def latest(self, room: RoomId, limit: int) -> Page:
        """The newest ``limit`` retained messages, oldest first, and the room's last id."""
        if limit <= 0:
            return Page((), await self._read_last_id(room.value))
        items = await self._query(room.value, 1, _TOP, limit, newest_first=True)
        last = item_id(items[0]) if items else 0
        self._learn(room.value, last)
        floor = last - self.retention
        return Page(_newest_run(from_item(i) for i in reversed(items) if item_id(i) > floor), last)

    async def after(self, room: RoomId, after_id: int, limit: int) -> Page:
        """Up to ``limit`` retained messages with id > ``after_id``, oldest first."""
        last = await self._read_last_id(room.value)
        low = max(after_id + 1, last - self.retention + 1, 1)
        items = await self._query(room.value, low, last, limit, newest_first=False)
        return Page(_newest_run(from_item(i) for i in items), last)

    async def before(self, room: RoomId, before_id: int, limit: int) -> Page:
        """The newest ``limit`` retained messages with id < ``before_id``, oldest first."""
        last = await self._read_last_id(room.value)
        low = max(last - self.retention + 1, 1)
        items = await self._query(room.value, low, min(before_id - 1, last), limit, True)
        return Page(_newest_run(from_item(i) for i in reversed(items)), last)

    async def check(self) -> None:
        """Raise StorageUnavailable unless the table answers a read."""
        await self._calls.run(
            lambda: self._client.get_item(TableName=self._table, Key=key(_CHECK_ROOM, 0))
        )

    async def aclose(self) -> None:
        """Finish background trims, then release threads and connections."""
        await asyncio.gather(*self._trims.values(), return_exceptions=True)
        await self._calls.close()

    async def _read_last_id(self, room: str) -> int:
        items = await self._query(room, 1, _TOP, 1, newest_first=True, keys_only=True)
        last = item_id(items[0]) if items else 0
        self._learn(room, last)
        return last

    async def _find_provisional(self, room: str, provisional_id: str) -> Message | None:
        found = await self._run_query(
            {
                "TableName": self._table,
                "IndexName": PID_INDEX,
                "KeyConditionExpression": "#r = :r AND #p = :p",
                "ExpressionAttributeNames": {"#r": ROOM, "#p": PID},
                "ExpressionAttributeValues": {":r": {"S": room}, ":p": {"S": provisional_id}},
                "ConsistentRead": True,
            }
        )
        if not found["Items"]:
            return None
        stored_key = key(room, item_id(found["Items"][0]))
        got = await self._calls.run(
            lambda: self._client.get_item(
                TableName=self._table, Key=stored_key, ConsistentRead=True
            )
        )
        item = got.get("Item")
        return from_item(item) if item else None

    async def _put_new(self, room: str, message: Message) -> None:
        item = to_item(room, message)
        await self._calls.run(
            lambda: self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#i)",
                ExpressionAttributeNames={"#i": ID},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )

    async def _query(
        self,
        room: str,
        low: int,
        high: int,
        limit: int,
        newest_first: bool,
        keys_only: bool = False,
    ) -> list[Item]:
        """Items with low <= id <= high, strongly consistent, following pages up to ``limit``."""
        items: list[Item] = []
        if low > high or limit <= 0:
            return items
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "KeyConditionExpression": "#r = :r AND #i BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#r": ROOM, "#i": ID},
            "ExpressionAttributeValues": {
                ":r": {"S": room},
                ":lo": {"N": str(low)},
                ":hi": {"N": str(high)},
            },
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if keys_only:
            request["ProjectionExpression"] = "#r, #i"
        while len(items) < limit:
            request["Limit"] = limit - len(items)
            page = await self._run_query(request)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    async def _run_query(self, request: QueryInputTypeDef) -> QueryOutputTypeDef:
        return await self._calls.run(lambda: self._client.query(**request))

    def _remember(self, room: str, last_id: int) -> None:
        self._last[room] = max(last_id, self._last.get(room, 0))
        self._last.move_to_end(room)
        if len(self._last) > CACHED_ROOMS:
            self._last.popitem(last=False)

    def _learn(self, room: str, last_id: int) -> None:
        if room in self._last:
            self._remember(room, last_id)

    def _schedule_trim(self, room: str, last_id: int) -> None:
        if last_id <= self.retention or last_id % TRIM_EVERY or room in self._trims:
            return
        task = asyncio.create_task(self._trim(room, last_id - self.retention))
        self._trims[room] = task
        task.add_done_callback(lambda _: self._trims.pop(room, None))

    async def _trim(self, room: str, up_to: int) -> None:
        """Delete up to TRIM_BATCH items with id <= ``up_to`` (never the newest)."""
        try:
            stale = await self._query(room, 1, up_to, TRIM_BATCH, False, keys_only=True)
            for start in range(0, len(stale), 25):
                await self._delete(room, [item_id(i) for i in stale[start : start + 25]])
        except StorageUnavailable as exc:
            log.warning("trimming room %s failed; the next trim retries: %s", room, exc)

    async def _delete(self, room: str, ids: list[int]) -> None:
        requests: Mapping[str, Sequence[WriteRequestUnionTypeDef]] = {
            self._table: [{"DeleteRequest": {"Key": key(room, i)}} for i in ids]
        }
        for attempt in range(4):
            done = await self._calls.run(
                partial(self._client.batch_write_item, RequestItems=requests)
            )
            requests = done.get("UnprocessedItems", {})
            if not requests:
                return
            await asyncio.sleep(0.05 * 2**attempt)


def _newest_run(messages: Iterable[Message]) -> tuple[Message, ...]:
    """The messages (oldest first) after the last hole: a concurrent trim only bites the old end."""
    run: list[Message] = []
    for message in messages:
        if run and message.id != run[-1].id + 1:
            run.clear()
        run.append(message)
    return tuple(run)


def _same_provisional(item: Item | None, provisional_id: str) -> Message | None:
    if item is None or item.get(PID, {}).get("S") != provisional_id:
        return None
    return from_item(item)


@asynccontextmanager
async def open_dynamo_log(url: str, retention: int = 1000) -> AsyncIterator[DynamoMessageLog]:
    """Open the table named by a ``dynamodb://`` URL for the lifetime of the block."""
    target = parse_dynamo_url(url)
    client = await asyncio.to_thread(make_client, target)
    message_log = DynamoMessageLog(DynamoCalls(client, target.table), retention)
    try:
        yield message_log
    finally:
        await message_log.aclose()
