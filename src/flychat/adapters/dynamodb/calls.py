"""Blocking boto3 calls run on a bounded thread pool, driver errors turned into domain errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from flychat.adapters.dynamodb.items import Item
from flychat.adapters.dynamodb.url import DynamoTarget
from flychat.domain.errors import AppendConflict, FlychatError, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

T = TypeVar("T")

WORKERS = 16
_THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "LimitExceededException",
    }
)


class Conflict(AppendConflict):
    """A conditional write found an item in the way; ``existing`` is that item if returned."""

    def __init__(self, existing: Item | None) -> None:
        super().__init__("another writer took this message id")
        self.existing = existing


def make_client(target: DynamoTarget, workers: int = WORKERS) -> DynamoDBClient:
    """A DynamoDB client with standard retries (throttling, transient errors) and timeouts."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=workers,
    )
    try:
        return boto3.session.Session().client(
            "dynamodb", region_name=target.region, endpoint_url=target.endpoint_url, config=config
        )
    except NoRegionError:
        raise ValueError(
            "no AWS region for DynamoDB: add ?region=... to the URL "
            "or set AWS_REGION / AWS_DEFAULT_REGION"
        ) from None


def translate(exc: ClientError, table: str) -> FlychatError:
    """The domain error for a DynamoDB error response."""
    response: dict[str, Any] = dict(exc.response)
    error = response.get("Error", {})
    code = error.get("Code", "Unknown")
    if code == "ConditionalCheckFailedException":
        return Conflict(response.get("Item"))
    if code == "ResourceNotFoundException":
        return StorageUnavailable(
            f"DynamoDB table {table!r} does not exist; run `flychat migrate` to create it"
        )
    if code in _THROTTLING:
        return StorageUnavailable(f"DynamoDB is throttling requests ({code}); try again")
    return StorageUnavailable(f"DynamoDB refused the request: {code}: {error.get('Message', '')}")


class DynamoCalls:
    """One shared client; every call runs on a bounded pool and raises only domain errors."""

    def __init__(self, client: DynamoDBClient, table: str, workers: int = WORKERS) -> None:
        self.client = client
        self.table = table
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="flychat-dynamodb")

    async def run(self, call: Callable[[], T]) -> T:
        """Run a blocking boto3 call off the event loop."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, call)
        except ClientError as exc:
            raise translate(exc, self.table) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"DynamoDB is unreachable: {exc}") from exc

    async def close(self) -> None:
        """Wait for calls in flight, then release the pool and the client's connections."""
        await asyncio.to_thread(self._pool.shutdown)
        self.client.close()
