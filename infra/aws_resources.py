"""Create the table, bucket and run queues described in template.yaml (local stack and contract tests).

The template is the single source of truth for the table's keys and indexes and the queues' settings: this
module reads it (CloudFormation tags such as ``!Ref`` load as ``{"Ref": ...}`` dicts) and creates resources
with the given clients, e.g. against a moto server. Creating what already exists is fine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
TABLE_RESOURCE = "Table"
BUCKET_RESOURCE = "BodyBucket"
RUN_QUEUE_RESOURCE = "RunQueue"
INGESTION_QUEUE_RESOURCE = "IngestionQueue"
DEFAULT_QUEUE_ATTRIBUTES: Mapping[str, str] = {"VisibilityTimeout": "120"}
DEFAULT_MAX_RECEIVE_COUNT = 5
_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "DelaySeconds",
)


class AwsClientsLike(Protocol):
    """``assistants_core.adapters.aws.AwsClients`` or anything else holding the three boto3 clients."""

    @property
    def dynamodb(self) -> Any: ...
    @property
    def s3(self) -> Any: ...
    @property
    def sqs(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class ResourceNames:
    table_name: str
    bucket_name: str
    run_queue_url: str
    dead_letter_queue_url: str
    ingestion_queue_url: str = ""
    ingestion_dead_letter_queue_url: str = ""


class _TemplateLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type stubs
    """YAML loader for CloudFormation's short intrinsic tags (``!Ref X`` -> ``{"Ref": "X"}``)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        template: dict[str, Any] = yaml.load(handle, Loader=_TemplateLoader)
    return template


def _resource(template: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    resource = template.get("Resources", {}).get(name)
    return resource.get("Properties", {}) if resource else None


def create_resources(
    clients: AwsClientsLike, *, template_path: str | Path = DEFAULT_TEMPLATE, prefix: str = "assistants-local"
) -> ResourceNames:
    template = load_template(template_path)
    table_name = f"{prefix}-table"
    bucket_name = f"{prefix}-bodies"
    _create_table(clients.dynamodb, table_name, _resource(template, TABLE_RESOURCE) or {})
    _create_bucket(clients.s3, bucket_name, _resource(template, BUCKET_RESOURCE) or {})
    run_queue_url, dead_letter_queue_url = _create_queues(clients.sqs, prefix, template)
    ingestion_url, ingestion_dlq_url = _create_queues(
        clients.sqs, prefix, template, resource=INGESTION_QUEUE_RESOURCE, name="ingestion"
    )
    return ResourceNames(
        table_name, bucket_name, run_queue_url, dead_letter_queue_url, ingestion_url, ingestion_dlq_url
    )


def _create_table(client: Any, table_name: str, properties: Mapping[str, Any]) -> None:
    if not properties.get("KeySchema"):
        raise ValueError(f"template resource {TABLE_RESOURCE!r} has no KeySchema")
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if properties.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index["IndexName"],
                "KeySchema": index["KeySchema"],
                "Projection": index["Projection"],
            }
            for index in properties["GlobalSecondaryIndexes"]
        ]
    try:
        client.create_table(**request)
    except client.exceptions.ResourceInUseException:
        return  # already there
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )


def _create_bucket(client: Any, bucket_name: str, properties: Mapping[str, Any]) -> None:
    region = client.meta.region_name
    request: dict[str, Any] = {"Bucket": bucket_name}
    if region and region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**request)
    except (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
        return
    if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        client.put_bucket_versioning(Bucket=bucket_name, VersioningConfiguration={"Status": "Enabled"})


def _queue_attributes(properties: Mapping[str, Any] | None) -> dict[str, str]:
    """Plain numeric attributes of a queue resource (intrinsics such as ``!Ref`` are skipped)."""
    if properties is None:
        return dict(DEFAULT_QUEUE_ATTRIBUTES)
    return {
        name: str(properties[name])
        for name in _QUEUE_ATTRIBUTES
        if isinstance(properties.get(name), int | str) and not isinstance(properties.get(name), bool)
    }


def _ensure_queue(client: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        url: str = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except client.exceptions.QueueNameExists:
        url = client.get_queue_url(QueueName=name)["QueueUrl"]
        client.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def _create_queues(
    client: Any,
    prefix: str,
    template: Mapping[str, Any],
    *,
    resource: str = RUN_QUEUE_RESOURCE,
    name: str = "runs",
) -> tuple[str, str]:
    """The queue ``resource`` of the template as ``<prefix>-<name>`` with its redrive dead-letter queue."""
    run_queue = _resource(template, resource)
    redrive = (run_queue or {}).get("RedrivePolicy") or {}
    target = redrive.get("deadLetterTargetArn")
    dead_letter_resource = (
        target["Fn::GetAtt"][0] if isinstance(target, dict) and "Fn::GetAtt" in target else None
    )
    dead_letter_queue_url = _ensure_queue(
        client,
        f"{prefix}-{name}-dlq",
        _queue_attributes(_resource(template, dead_letter_resource) if dead_letter_resource else None),
    )
    dead_letter_arn = client.get_queue_attributes(
        QueueUrl=dead_letter_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    max_receive_count = int(redrive.get("maxReceiveCount", DEFAULT_MAX_RECEIVE_COUNT))
    attributes = _queue_attributes(run_queue)
    attributes["RedrivePolicy"] = json.dumps(
        {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count}
    )
    run_queue_url = _ensure_queue(client, f"{prefix}-{name}", attributes)
    return run_queue_url, dead_letter_queue_url
