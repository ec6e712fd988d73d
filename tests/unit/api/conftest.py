"""The real app over in-process moto (DynamoDB, S3, SQS created from template.yaml), driven by TestClient."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from api.app import create_app
from api.auth import hash_api_key
from api.deps import ApiDependencies, build_dependencies
from assistants_core.adapters.aws import AwsClients
from assistants_core.ports import WorkerSpawner
from assistants_core.settings import ApiSettings
from infra import moto_dynamodb
from infra.aws_resources import ResourceNames, create_resources

# Keys of the generated shape (api/auth.py refuses short ones).
KEY_A = "sk-test-tenant-a-0123456789abcdefghijklmnopqrstuvwxyz"
KEY_B = "sk-test-tenant-b-0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass
class ApiHarness:
    client: TestClient
    dependencies: ApiDependencies
    resources: ResourceNames
    clients: AwsClients

    def headers(self, key: str = KEY_A) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}

    def table_item_count(self) -> int:
        return int(self.clients.dynamodb.scan(TableName=self.resources.table_name, Select="COUNT")["Count"])

    def queue_depth(self) -> int:
        attributes = self.clients.sqs.get_queue_attributes(
            QueueUrl=self.resources.run_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def post(self, path: str, body: Any = None, *, key: str = KEY_A, **kwargs: Any) -> Any:
        return self.client.post(f"/v1{path}", json=body, headers=self.headers(key), **kwargs)

    def get(self, path: str, *, key: str = KEY_A, **kwargs: Any) -> Any:
        return self.client.get(f"/v1{path}", headers=self.headers(key), **kwargs)

    def delete(self, path: str, *, key: str = KEY_A) -> Any:
        return self.client.delete(f"/v1{path}", headers=self.headers(key))


# The quotas write counter items; tests that count the table's items run without them: ``running_api``
# turns them off unless a test sets them (test_quotas.py covers them with small limits).
NO_QUOTAS = {"tenant_requests_per_minute": 0, "tenant_max_active_runs": 0, "tenant_max_open_streams": 0}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiHarness]:
    with running_api(monkeypatch) as harness:
        yield harness


@contextmanager
def running_api(
    monkeypatch: pytest.MonkeyPatch, *, spawner: WorkerSpawner | None = None, **overrides: Any
) -> Iterator[ApiHarness]:
    """The app over in-process moto; ``overrides`` are ``ApiSettings`` values, ``spawner`` wakes workers.
    Settings come from here only: ``ASSISTANTS_*`` variables another fixture set (the e2e stack's, alive for
    the whole session) are hidden."""
    for name in [name for name in os.environ if name.startswith("ASSISTANTS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    moto_dynamodb.install()  # DynamoDB requests isolated as the service does (tests/conftest.py does too)
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        clients = AwsClients(
            dynamodb=session.client("dynamodb"), s3=session.client("s3"), sqs=session.client("sqs")
        )
        resources = create_resources(clients, prefix="api-test")
        settings = ApiSettings(
            table_name=resources.table_name,
            bucket_name=resources.bucket_name,
            run_queue_url=resources.run_queue_url,
            api_key_hashes=f"{hash_api_key(KEY_A)}:tenant-a,{hash_api_key(KEY_B)}:tenant-b",
            cors_allow_origins="https://app.example.com",
            max_message_chars=2_000,
            inline_body_limit_bytes=1_024,
            **{**NO_QUOTAS, **overrides},
        )
        dependencies = build_dependencies(settings, clients=clients, spawner=spawner)
        with TestClient(create_app(dependencies), raise_server_exceptions=False) as client:
            yield ApiHarness(client, dependencies, resources, clients)
