from __future__ import annotations

import pytest

from assistants_core.adapters.aws import make_aws_clients
from assistants_core.settings import AwsSettings


@pytest.fixture(autouse=True)
def _no_endpoint_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANTS_AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_clients_use_the_endpoint_region_and_standard_retries() -> None:
    settings = AwsSettings(
        table_name="t", bucket_name="b", run_queue_url="q", aws_endpoint_url="http://127.0.0.1:5999"
    )
    clients = make_aws_clients(settings)
    for client in (clients.dynamodb, clients.s3, clients.sqs):
        assert client.meta.endpoint_url == "http://127.0.0.1:5999"
        assert client.meta.region_name == settings.aws_region
        assert client.meta.config.retries["mode"] == "standard"
        assert client.meta.config.connect_timeout > 0
    assert clients.sqs.meta.config.read_timeout > 20  # longer than a 20 s long poll
    assert clients.s3.meta.config.s3["addressing_style"] == "path"


def test_without_endpoint_clients_target_aws() -> None:
    clients = make_aws_clients(AwsSettings(table_name="t", bucket_name="b", run_queue_url="q"))
    assert "amazonaws.com" in clients.dynamodb.meta.endpoint_url
