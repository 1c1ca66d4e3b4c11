"""The DynamoDB table layout and the mapping between items and Messages.

One item per message: partition key ``room`` (S), sort key ``id`` (N), plus
``pid``, ``sender``, ``text``, ``date`` (N, epoch milliseconds) and, for messages
posted with a token, ``user`` (S, the token's ``sub``). The local
secondary index ``by-pid`` (room, pid), keys only, finds a provisional id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flychat.domain.model import Message

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        AttributeValueTypeDef,
        KeySchemaElementTypeDef,
        LocalSecondaryIndexTypeDef,
    )

ROOM = "room"
ID = "id"
PID = "pid"
PID_INDEX = "by-pid"
USER = "user"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

Item = Mapping[str, Mapping[str, Any]]


def attribute_definitions() -> list[AttributeDefinitionTypeDef]:
    """The typed attributes that the table's keys and index use."""
    return [
        {"AttributeName": ROOM, "AttributeType": "S"},
        {"AttributeName": ID, "AttributeType": "N"},
        {"AttributeName": PID, "AttributeType": "S"},
    ]


def key_schema() -> list[KeySchemaElementTypeDef]:
    """The table's primary key: room (partition), id (sort)."""
    return [{"AttributeName": ROOM, "KeyType": "HASH"}, {"AttributeName": ID, "KeyType": "RANGE"}]


def local_indexes() -> list[LocalSecondaryIndexTypeDef]:
    """The provisional-id index: (room, pid), keys only."""
    return [
        {
            "IndexName": PID_INDEX,
            "KeySchema": [
                {"AttributeName": ROOM, "KeyType": "HASH"},
                {"AttributeName": PID, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]


def key(room: str, message_id: int) -> dict[str, AttributeValueTypeDef]:
    """The primary key of message ``message_id`` in ``room``."""
    return {ROOM: {"S": room}, ID: {"N": str(message_id)}}


def to_item(room: str, message: Message) -> dict[str, AttributeValueTypeDef]:
    """The item that stores ``message``."""
    millis = (message.date - _EPOCH) // _MS
    item: dict[str, AttributeValueTypeDef] = {
        ROOM: {"S": room},
        ID: {"N": str(message.id)},
        PID: {"S": message.provisional_id},
        "sender": {"S": message.sender},
        "text": {"S": message.text},
        "date": {"N": str(millis)},
    }
    if message.user is not None:
        item[USER] = {"S": message.user}
    return item


def item_id(item: Item) -> int:
    """The message id of an item (or of a key)."""
    return int(item[ID]["N"])


def from_item(item: Item) -> Message:
    """The Message stored in ``item``; the date is aware UTC, to the millisecond."""
    return Message(
        id=item_id(item),
        provisional_id=item[PID]["S"],
        sender=item["sender"]["S"],
        text=item["text"]["S"],
        date=_EPOCH + int(item["date"]["N"]) * _MS,
        user=item[USER]["S"] if USER in item else None,
    )
