"""Services over the real DynamoDB/S3/SQS adapters (the moto-backed fixtures of tests/conftest.py), with a
controllable clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb import (
    DynamoAssistantRepository,
    DynamoMessageRepository,
    DynamoRunRepository,
    DynamoThreadRepository,
)
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.services.assistants import AssistantService
from assistants_core.services.messages import MessageService
from assistants_core.services.runs import RunService
from assistants_core.services.steps import StepService
from assistants_core.services.threads import ThreadService
from infra.aws_resources import ResourceNames

MAX_MESSAGE_CHARS = 1_000
RUN_EXPIRY_SECONDS = 600


class FixedClock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.current = now

    def now(self) -> float:
        return self.current


@dataclass
class Services:
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService
    runs: RunService
    steps: StepService
    run_repo: DynamoRunRepository
    queue: SqsRunQueue
    clock: FixedClock
    clients: AwsClients
    resources: ResourceNames


@pytest.fixture
def services(
    *,
    aws_clients: AwsClients,
    aws_resources: ResourceNames,
    assistant_repo: DynamoAssistantRepository,
    thread_repo: DynamoThreadRepository,
    message_repo: DynamoMessageRepository,
    run_repo: DynamoRunRepository,
    run_queue: SqsRunQueue,
) -> Services:
    clock = FixedClock()
    return Services(
        assistants=AssistantService(assistant_repo, clock),
        threads=ThreadService(thread_repo, clock, max_message_chars=MAX_MESSAGE_CHARS),
        messages=MessageService(message_repo, clock, max_message_chars=MAX_MESSAGE_CHARS),
        runs=RunService(
            assistant_repo,
            run_repo,
            run_queue,
            clock,
            run_expiry_seconds=RUN_EXPIRY_SECONDS,
            max_message_chars=MAX_MESSAGE_CHARS,
        ),
        steps=StepService(run_repo),
        run_repo=run_repo,
        queue=run_queue,
        clock=clock,
        clients=aws_clients,
        resources=aws_resources,
    )
