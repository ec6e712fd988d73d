"""A running consumer marks itself live, so a run create wakes no worker while it receives."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.worker_presence import DynamoWorkerPresence
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.settings import WorkerSettings
from gpu_worker.presence import consumer_presence, presence_seconds
from infra import moto_dynamodb
from infra.aws_resources import ResourceNames, create_resources

NOW = 1_800_000_000.0


class FixedClock:
    def now(self) -> float:
        return NOW


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AwsClients, ResourceNames]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moto_dynamodb.install()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        clients = AwsClients(
            dynamodb=session.client("dynamodb"), s3=session.client("s3"), sqs=session.client("sqs")
        )
        yield clients, create_resources(clients, prefix="presence")


def test_consumer_presence_blocks_wakes_while_it_runs(aws: tuple[AwsClients, ResourceNames]) -> None:
    clients, names = aws
    settings = WorkerSettings(
        table_name=names.table_name,
        bucket_name=names.bucket_name,
        run_queue_url=names.run_queue_url,
        model_path="/m",
        heartbeat_seconds=0.05,
    )
    table = DynamoTable(clients.dynamodb, names.table_name, S3BodyStore(clients.s3, names.bucket_name))
    presence = DynamoWorkerPresence(table)

    async def consume_for_a_moment() -> None:
        async with consumer_presence(settings, clients=clients, clock=FixedClock()):
            await asyncio.sleep(0.2)  # several marks

    asyncio.run(consume_for_a_moment())
    alive = presence_seconds(settings)
    assert not presence.claim_wake(NOW + alive - 1, debounce_seconds=30)  # still live: no wake
    assert presence.claim_wake(NOW + alive + 1, debounce_seconds=30)  # went idle: wake once
    assert not presence.claim_wake(NOW + alive + 2, debounce_seconds=30)  # debounced
    presence.mark_consumer_alive(NOW)  # an older mark never moves the time back


class StaleReads(DynamoTable):
    """Reads that miss the latest write (another API instance's claim landing between read and write)."""

    def get(self, pk: str, sk: str) -> None:  # type: ignore[override]
        return None


def test_the_conditional_write_decides_a_race_the_read_missed(aws: tuple[AwsClients, ResourceNames]) -> None:
    clients, names = aws
    bodies = S3BodyStore(clients.s3, names.bucket_name)
    fresh = DynamoWorkerPresence(DynamoTable(clients.dynamodb, names.table_name, bodies))
    stale = DynamoWorkerPresence(StaleReads(clients.dynamodb, names.table_name, bodies))
    assert fresh.claim_wake(NOW, debounce_seconds=30)
    assert not stale.claim_wake(NOW + 1, debounce_seconds=30)  # within the window: the condition refuses
    fresh.mark_consumer_alive(NOW + 100)
    assert not stale.claim_wake(NOW + 50, debounce_seconds=30)  # a live consumer: the condition refuses
