"""Creating the DynamoDB table (``flychat migrate``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

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
    """Blocking: create ``table`` unless it exists, wait for ACTIVE, check its layout."""
    created = True
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=attribute_definitions(),
            KeySchema=key_schema(),
            LocalSecondaryIndexes=local_indexes(),
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        created = False
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
    )
    description = client.describe_table(TableName=table)["Table"]
    indexes = {i.get("IndexName") for i in description.get("LocalSecondaryIndexes", [])}
    if description.get("KeySchema") != key_schema() or PID_INDEX not in indexes:
        raise ValueError(
            f"DynamoDB table {table!r} exists but not with flychat's layout "
            f"(key room/id and local index {PID_INDEX!r}); pick another table name"
        )
    return created


def ensure_presence_table(client: DynamoDBClient, table: str) -> bool:
    """Blocking: create the presence table unless it exists, wait for ACTIVE, check it."""
    created = True
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=presence_attributes(),
            KeySchema=presence_key_schema(),
            GlobalSecondaryIndexes=presence_indexes(),
            BillingMode="PAY_PER_REQUEST",
        )
    except client.exceptions.ResourceInUseException:
        created = False
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 300}
    )
    description = client.describe_table(TableName=table)["Table"]
    indexes = {i.get("IndexName") for i in description.get("GlobalSecondaryIndexes", [])}
    if description.get("KeySchema") != presence_key_schema() or SEEN_INDEX not in indexes:
        raise ValueError(
            f"DynamoDB table {table!r} exists but not with flychat's presence layout "
            f"(key room/member and global index {SEEN_INDEX!r}); pick another table name"
        )
    return created
