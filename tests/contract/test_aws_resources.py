from __future__ import annotations

import json
from pathlib import Path

from assistants_core.adapters.aws import AwsClients
from infra.aws_resources import DEFAULT_TEMPLATE, ResourceNames, create_resources, load_template


def test_template_loads_with_cloudformation_tags() -> None:
    template = load_template()
    redrive = template["Resources"]["RunQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def test_table_matches_the_template(aws_clients: AwsClients, aws_resources: ResourceNames) -> None:
    expected = load_template()["Resources"]["Table"]["Properties"]
    table = aws_clients.dynamodb.describe_table(TableName=aws_resources.table_name)["Table"]
    assert table["KeySchema"] == expected["KeySchema"]
    assert {index["IndexName"]: index["KeySchema"] for index in table["GlobalSecondaryIndexes"]} == {
        index["IndexName"]: index["KeySchema"] for index in expected["GlobalSecondaryIndexes"]
    }
    ttl = aws_clients.dynamodb.describe_time_to_live(TableName=aws_resources.table_name)
    assert ttl["TimeToLiveDescription"] == {"AttributeName": "ttl", "TimeToLiveStatus": "ENABLED"}


def test_queues_follow_the_template(aws_clients: AwsClients, aws_resources: ResourceNames) -> None:
    expected = load_template()["Resources"]["RunQueue"]["Properties"]
    attributes = aws_clients.sqs.get_queue_attributes(
        QueueUrl=aws_resources.run_queue_url, AttributeNames=["All"]
    )["Attributes"]
    dead_letter_arn = aws_clients.sqs.get_queue_attributes(
        QueueUrl=aws_resources.dead_letter_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert attributes["VisibilityTimeout"] == str(expected["VisibilityTimeout"])
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead_letter_arn,
        "maxReceiveCount": expected["RedrivePolicy"]["maxReceiveCount"],
    }


def test_creating_twice_is_fine_and_keeps_data(aws_clients: AwsClients, aws_resources: ResourceNames) -> None:
    aws_clients.s3.put_object(Bucket=aws_resources.bucket_name, Key="k", Body=b"v")
    again = create_resources(aws_clients, prefix="assistants-test")
    assert again == aws_resources
    assert aws_clients.s3.get_object(Bucket=aws_resources.bucket_name, Key="k")["Body"].read() == b"v"


def test_defaults_when_the_template_has_no_queues(aws_clients: AwsClients, tmp_path: Path) -> None:
    template = DEFAULT_TEMPLATE.read_text()
    table_only = tmp_path / "template.yaml"
    resources = template[: template.index("Resources:")] + "Resources:\n"
    table_start = template.index("  Table:\n")
    table_end = template.index("\n  BodyBucket:") if "\n  BodyBucket:" in template else len(template)
    table_only.write_text(resources + template[table_start:table_end] + "\n")

    names = create_resources(aws_clients, template_path=table_only, prefix="bare")
    attributes = aws_clients.sqs.get_queue_attributes(QueueUrl=names.run_queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "120"
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == 5
    assert aws_clients.dynamodb.describe_table(TableName=names.table_name)["Table"]["TableStatus"] == "ACTIVE"
