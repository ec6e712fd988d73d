"""Helpers to look at the raw S3 bucket and table behind the repositories."""

from __future__ import annotations

from typing import Any

from assistants_core.adapters.aws import AwsClients
from infra.aws_resources import ResourceNames


def bucket_keys(aws_clients: AwsClients, aws_resources: ResourceNames, prefix: str = "") -> list[str]:
    response = aws_clients.s3.list_objects_v2(Bucket=aws_resources.bucket_name, Prefix=prefix)
    return [str(item["Key"]) for item in response.get("Contents", [])]


def partition_sort_keys(aws_clients: AwsClients, aws_resources: ResourceNames, pk: str) -> list[str]:
    response: dict[str, Any] = aws_clients.dynamodb.query(
        TableName=aws_resources.table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )
    return [str(item["SK"]["S"]) for item in response["Items"]]
