"""Scenario fixtures: the ``World`` helper over the moto-backed fixtures of tests/conftest.py."""

from __future__ import annotations

import pytest

from assistants_core.adapters.dynamodb import (
    DynamoMessageRepository,
    DynamoRunEventLog,
    DynamoRunRepository,
    DynamoTable,
    DynamoThreadRepository,
)
from assistants_core.adapters.sqs_queue import SqsRunQueue
from tests.worker.world import FakeClock, World


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(
    thread_repo: DynamoThreadRepository,
    message_repo: DynamoMessageRepository,
    run_repo: DynamoRunRepository,
    run_queue: SqsRunQueue,
    clock: FakeClock,
    *,
    dynamo_table: DynamoTable,
) -> World:
    return World(
        thread_repo, message_repo, run_repo, run_queue, clock, DynamoRunEventLog(dynamo_table), dynamo_table
    )
