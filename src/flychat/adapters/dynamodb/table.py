"""Creating the DynamoDB table (``flychat migrate``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from flychat.adapters.dynamodb.calls import DynamoCalls, make_client
from flychat.adapters.dynamodb.items import (
    PID_INDEX,
    attribute_definitions,
    key_schema,
    local_indexes,
)
from flychat.adapters.dynamodb.presence import (
    SEEN_INDEX,
    presence_attributes,
    presence_indexes,
    presence_key_schema,
    presence_table,
)
from flychat.adapters.dynamodb.url import parse_dynamo_url

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


async def migrate_dynamo(url: str) -> bool:
    """Create the table named by ``url`` and its presence table (on-demand billing), and
    wait until both are ACTIVE.

    Idempotent: existing tables with the expected layout are fine. Returns True when
    the messages table was created now. Raises ValueError when one exists with another
    layout.
    """
    target = parse_dynamo_url(url)
    client = await asyncio.to_thread(make_client, target)
    calls = DynamoCalls(client, target.table, workers=1)
    try:
        created = await calls.run(lambda: ensure_table(client, target.table))
        await calls.run(lambda: ensure_presence_table(client, presence_table(target.table)))
        return created
    finally:
        await calls.close()


def ensure_table(client: DynamoDBClient, table: str) -> bool:
    """Blocking: create the messages ``table`` unless it exists, wait for ACTIVE, check it."""
    return _ensure(
        client,
        table,
        key=key_schema(),
        attributes=attribute_definitions(),
        indexes=("LocalSecondaryIndexes", local_indexes(), PID_INDEX),
        layout="key room/id and local index",
    )


def ensure_presence_table(client: DynamoDBClient, table: str) -> bool:
    """Blocking: create the presence table unless it exists, wait for ACTIVE, check it."""
    return _ensure(
        client,
        table,
        key=presence_key_schema(),
        attributes=presence_attributes(),
        indexes=("GlobalSecondaryIndexes", presence_indexes(), SEEN_INDEX),
        layout="presence layout: key room/member and global index",
    )


def _ensure(
    client: DynamoDBClient,
    table: str,
    *,
    key: Any,
    attributes: Any,
    indexes: tuple[str, Any, str],
    layout: str,
) -> bool:
    kind, definitions, required_index = indexes
    created = True
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=attributes,
            KeySchema=key,
            BillingMode="PAY_PER_REQUEST",
            **{kind: definitions},
        )
    except client.exceptions.ResourceInUseException:
        created = False
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
    )
    description: Any = client.describe_table(TableName=table)["Table"]
    names = {i.get("IndexName") for i in description.get(kind, [])}
    if description.get("KeySchema") != key or required_index not in names:
        raise ValueError(
            f"DynamoDB table {table!r} exists but not with flychat's layout "
            f"({layout} {required_index!r}); pick another table name"
        )
    return created
