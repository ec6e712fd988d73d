"""infra/moto_dynamodb.py: with its patches moto still rolls a failed transaction back completely and
keeps conditional writes exclusive under concurrent requests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from infra import moto_dynamodb

TABLE = "patched"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    moto_dynamodb.install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _key(sk: str) -> dict[str, Any]:
    return {"PK": {"S": "P"}, "SK": {"S": sk}}


def _items(client: Any) -> dict[str, dict[str, Any]]:
    return {item["SK"]["S"]: item for item in client.scan(TableName=TABLE)["Items"]}


def test_a_cancelled_transaction_leaves_every_item_as_it_was(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**_key("kept"), "n": {"N": "1"}})
    dynamodb.put_item(TableName=TABLE, Item={**_key("deleted"), "n": {"N": "2"}})
    before = _items(dynamodb)
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**_key("new"), "n": {"N": "3"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key("kept"),
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "9"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": _key("deleted")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("missing"),
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(dynamodb) == before


def test_a_successful_transaction_writes_every_item(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**_key("deleted"), "n": {"N": "2"}})
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**_key("a"), "n": {"N": "1"}}}},
            {"Put": {"TableName": TABLE, "Item": {**_key("b"), "n": {"N": "2"}}}},
            {"Delete": {"TableName": TABLE, "Key": _key("deleted")}},
        ]
    )
    assert sorted(_items(dynamodb)) == ["a", "b"]


def test_concurrent_conditional_creates_of_one_item_let_exactly_one_win(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_item = Table.get_item

    def slow_read(self: Table, *args: Any, **kwargs: Any) -> Any:
        item = read_item(self, *args, **kwargs)
        time.sleep(0.005)  # widens moto's window between a condition's read and the write
        return item

    monkeypatch.setattr(Table, "get_item", slow_read)

    def create(writer: int) -> bool:
        try:
            dynamodb.put_item(
                TableName=TABLE,
                Item={**_key("contended"), "writer": {"N": str(writer)}},
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = list(pool.map(create, range(32)))
    assert wins.count(True) == 1
    assert _items(dynamodb)["contended"]["writer"]["N"] == str(wins.index(True))
