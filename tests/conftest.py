"""Shared fixtures: moto-backed AWS clients, resources created from template.yaml, and the adapters over them.

Everything runs in-process under ``moto.mock_aws`` (never real AWS); each test gets fresh, empty resources.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.adapters.dynamodb import (
    DynamoAssistantRepository,
    DynamoMessageRepository,
    DynamoRunRepository,
    DynamoTable,
    DynamoThreadRepository,
)
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.settings import AwsSettings
from infra import moto_dynamodb
from infra.aws_resources import ResourceNames, create_resources

TEST_REGION = "us-east-1"


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/reliability/conftest.py: pytest registers options only from the conftests it loads
    # at start-up, and ``pytest tests`` does not load that one before parsing the command line.
    parser.addoption(
        "--reliability-seed",
        type=int,
        default=None,
        help="replay the soak test (tests/reliability) with this seed (printed by each soak run)",
    )


@pytest.fixture
def aws_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "ASSISTANTS_AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    moto_dynamodb.install()  # one DynamoDB request at a time, as the service isolates them; cheap rollback
    with mock_aws():
        settings = AwsSettings(table_name="unused", bucket_name="unused", run_queue_url="unused")
        yield make_aws_clients(settings)


@pytest.fixture
def aws_resources(aws_clients: AwsClients) -> ResourceNames:
    return create_resources(aws_clients, prefix="assistants-test")


@pytest.fixture
def body_store(aws_clients: AwsClients, aws_resources: ResourceNames) -> S3BodyStore:
    return S3BodyStore(aws_clients.s3, aws_resources.bucket_name)


@pytest.fixture
def dynamo_table(
    aws_clients: AwsClients, aws_resources: ResourceNames, body_store: S3BodyStore
) -> DynamoTable:
    return DynamoTable(aws_clients.dynamodb, aws_resources.table_name, body_store)


@pytest.fixture
def assistant_repo(dynamo_table: DynamoTable) -> DynamoAssistantRepository:
    return DynamoAssistantRepository(dynamo_table)


@pytest.fixture
def thread_repo(dynamo_table: DynamoTable) -> DynamoThreadRepository:
    return DynamoThreadRepository(dynamo_table)


@pytest.fixture
def message_repo(dynamo_table: DynamoTable) -> DynamoMessageRepository:
    return DynamoMessageRepository(dynamo_table)


@pytest.fixture
def run_repo(dynamo_table: DynamoTable) -> DynamoRunRepository:
    return DynamoRunRepository(dynamo_table)


@pytest.fixture
def run_queue(aws_clients: AwsClients, aws_resources: ResourceNames) -> SqsRunQueue:
    return SqsRunQueue(aws_clients.sqs, aws_resources.run_queue_url)
