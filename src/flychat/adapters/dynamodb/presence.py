"""The DynamoDB PresenceStore: one item per member in a second table, ``{table}-presence``.

Key ``room`` (S) / ``member`` (S); ``name``, optional ``user``, ``seen`` (N, epoch
milliseconds), ``beats`` (N) and ``shard`` (N). The global index ``by-seen`` (shard, seen) finds
expired members in every room without a scan. See docs/storage-dynamodb.md.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flychat.adapters.dynamodb.calls import Conflict, DynamoCalls, make_client
from flychat.adapters.dynamodb.url import parse_dynamo_url
from flychat.domain.model import Member, RoomId, Sender

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        AttributeValueTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
        QueryInputTypeDef,
    )

ROOM = "room"
MEMBER = "member"
SEEN = "seen"
SHARD = "shard"
BEATS = "beats"
SEEN_INDEX = "by-seen"
SHARDS = 8
SUFFIX = "-presence"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

Item = Mapping[str, Mapping[str, Any]]


def presence_table(table: str) -> str:
    """The presence table that goes with the messages table ``table``."""
    return f"{table}{SUFFIX}"


def presence_attributes() -> list[AttributeDefinitionTypeDef]:
    """The typed attributes the presence table's keys and index use."""
    return [
        {"AttributeName": ROOM, "AttributeType": "S"},
        {"AttributeName": MEMBER, "AttributeType": "S"},
        {"AttributeName": SHARD, "AttributeType": "N"},
        {"AttributeName": SEEN, "AttributeType": "N"},
    ]


def presence_key_schema() -> list[KeySchemaElementTypeDef]:
    """The presence table's primary key: room (partition), member (sort)."""
    return [
        {"AttributeName": ROOM, "KeyType": "HASH"},
        {"AttributeName": MEMBER, "KeyType": "RANGE"},
    ]


def presence_indexes() -> list[GlobalSecondaryIndexTypeDef]:
    """The expiry index: (shard, seen), keys only."""
    return [
        {
            "IndexName": SEEN_INDEX,
            "KeySchema": [
                {"AttributeName": SHARD, "KeyType": "HASH"},
                {"AttributeName": SEEN, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS


def _shard(room: str, key: str) -> int:
    return zlib.crc32(f"{room}\0{key}".encode()) % SHARDS


def _key(room: str, member: str) -> dict[str, AttributeValueTypeDef]:
    return {ROOM: {"S": room}, MEMBER: {"S": member}}


def _member(item: Item) -> Member:
    user = item.get("user", {}).get("S")
    seen = _EPOCH + int(item[SEEN]["N"]) * _MS
    return Member(RoomId(item[ROOM]["S"]), item[MEMBER]["S"], item["name"]["S"], user, seen)


class DynamoPresenceStore:
    """A PresenceStore over one DynamoDB table; every write is one conditional request."""

    def __init__(self, calls: DynamoCalls) -> None:
        self._calls = calls
        self._client = calls.client
        self._table = calls.table

    async def heartbeat(self, room: RoomId, sender: Sender, now: datetime) -> bool:
        """One UpdateItem (UPDATED_OLD): new when no old ``beats`` came back.

        ``beats`` counts heartbeats, so it changes on every update and an existing
        member always returns its old value.
        """
        names = {"#n": "name", "#s": SEEN, "#h": SHARD, "#u": "user", "#b": BEATS}
        values: dict[str, AttributeValueTypeDef] = {
            ":n": {"S": sender.name},
            ":s": {"N": str(_millis(now))},
            ":h": {"N": str(_shard(room.value, sender.key))},
            ":one": {"N": "1"},
        }
        update = "ADD #b :one SET #n = :n, #s = :s, #h = :h"
        if sender.user is None:
            update += " REMOVE #u"
        else:
            update += ", #u = :u"
            values[":u"] = {"S": sender.user}
        try:
            answer = await self._calls.run(
                lambda: self._client.update_item(
                    TableName=self._table,
                    Key=_key(room.value, sender.key),
                    UpdateExpression=update,
                    ConditionExpression="attribute_not_exists(#s) OR #s <= :s",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_OLD",
                )
            )
        except Conflict:
            return False
        return BEATS not in answer.get("Attributes", {})

    async def leave(self, room: RoomId, key: str) -> bool:
        """One DeleteItem (ALL_OLD): True when it deleted an item."""
        answer = await self._calls.run(
            lambda: self._client.delete_item(
                TableName=self._table, Key=_key(room.value, key), ReturnValues="ALL_OLD"
            )
        )
        return bool(answer.get("Attributes"))

    async def expire(self, room: RoomId | None, older_than: datetime, limit: int) -> list[Member]:
        """Find candidates (the room, or the expiry index), then delete each conditionally."""
        cutoff = str(_millis(older_than))
        if room is not None:
            candidates = await self._old_in_room(room.value, cutoff, limit)
        else:
            candidates = []
            for shard in range(SHARDS):
                candidates += await self._old_in_shard(shard, cutoff, limit - len(candidates))
                if len(candidates) >= limit:
                    break
        removed = await asyncio.gather(*(self._remove(c, cutoff) for c in candidates[:limit]))
        return [m for m in removed if m is not None]

    async def members(self, room: RoomId, seen_since: datetime) -> list[Member]:
        """A consistent query of the room's items seen at or after ``seen_since``."""
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "KeyConditionExpression": "#r = :r",
            "FilterExpression": "#s >= :since",
            "ExpressionAttributeNames": {"#r": ROOM, "#s": SEEN},
            "ExpressionAttributeValues": {
                ":r": {"S": room.value},
                ":since": {"N": str(_millis(seen_since))},
            },
            "ConsistentRead": True,
        }
        return [_member(item) for item in await self._query(request, None)]

    async def aclose(self) -> None:
        """Release threads and connections."""
        await self._calls.close()

    async def _old_in_room(self, room: str, cutoff: str, limit: int) -> list[Item]:
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "KeyConditionExpression": "#r = :r",
            "FilterExpression": "#s < :c",
            "ExpressionAttributeNames": {"#r": ROOM, "#s": SEEN},
            "ExpressionAttributeValues": {":r": {"S": room}, ":c": {"N": cutoff}},
            "ConsistentRead": True,
        }
        return await self._query(request, limit)

    async def _old_in_shard(self, shard: int, cutoff: str, limit: int) -> list[Item]:
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "IndexName": SEEN_INDEX,
            "KeyConditionExpression": "#h = :h AND #s < :c",
            "ExpressionAttributeNames": {"#h": SHARD, "#s": SEEN},
            "ExpressionAttributeValues": {":h": {"N": str(shard)}, ":c": {"N": cutoff}},
            "Limit": limit,
        }
        return await self._query(request, limit)

    async def _query(self, request: QueryInputTypeDef, limit: int | None) -> list[Item]:
        items: list[Item] = []
        while limit is None or len(items) < limit:
            page = await self._calls.run(lambda: self._client.query(**request))
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items if limit is None else items[:limit]

    async def _remove(self, candidate: Item, cutoff: str) -> Member | None:
        key = _key(candidate[ROOM]["S"], candidate[MEMBER]["S"])
        try:
            answer = await self._calls.run(
                lambda: self._client.delete_item(
                    TableName=self._table,
                    Key=key,
                    ConditionExpression="#s < :c",
                    ExpressionAttributeNames={"#s": SEEN},
                    ExpressionAttributeValues={":c": {"N": cutoff}},
                    ReturnValues="ALL_OLD",
                )
            )
        except Conflict:
            return None
        old = answer.get("Attributes")
        return _member(old) if old else None


@asynccontextmanager
async def open_dynamo_presence(url: str) -> AsyncIterator[DynamoPresenceStore]:
    """Open the presence table that goes with a ``dynamodb://`` URL's table."""
    target = parse_dynamo_url(url)
    client = await asyncio.to_thread(make_client, target)
    store = DynamoPresenceStore(DynamoCalls(client, presence_table(target.table)))
    try:
        yield store
    finally:
        await store.aclose()
