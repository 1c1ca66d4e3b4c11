"""Parsing ``dynamodb://`` URLs."""

from __future__ import annotations

import pytest

from flychat.adapters.dynamodb.url import DynamoTarget, parse_dynamo_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("dynamodb://chat", DynamoTarget("chat")),
        ("dynamodb://chat?region=eu-west-1", DynamoTarget("chat", "eu-west-1")),
        (
            "dynamodb://my.chat_table-1?region=us-east-1&endpoint_url=http://127.0.0.1:5000",
            DynamoTarget("my.chat_table-1", "us-east-1", "http://127.0.0.1:5000"),
        ),
        (
            "dynamodb://chat?endpoint_url=https%3A%2F%2Flocalstack%3A4566",
            DynamoTarget("chat", None, "https://localstack:4566"),
        ),
    ],
)
def test_valid_urls(url: str, expected: DynamoTarget) -> None:
    assert parse_dynamo_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("dynamodb://", "table name"),
        ("dynamodb://ab", "table name"),
        ("dynamodb://bad*name", "table name"),
        ("dynamodb://chat/extra", "unexpected path"),
        ("dynamodb://user:pw@chat", "credentials"),
        ("postgresql://chat", "not a DynamoDB URL"),
        ("dynamodb://chat?regoin=eu-west-1", "unknown"),
        ("dynamodb://chat?region=a&region=b", "more than once"),
        ("dynamodb://chat?region=EU WEST", "region"),
        ("dynamodb://chat?endpoint_url=localhost:8000", "endpoint_url"),
        ("dynamodb://chat?endpoint_url=", "endpoint_url"),
        ("dynamodb://chat?region", "malformed"),
    ],
)
def test_invalid_urls_say_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_dynamo_url(url)
