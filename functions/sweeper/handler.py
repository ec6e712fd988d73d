"""Scheduled Lambda (every minute): expire, re-enqueue and release stale runs (``RunMaintenance.sweep``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from assistants_core.adapters.aws import make_aws_clients
from assistants_core.adapters.dynamodb import DynamoRunEventLog, DynamoRunRepository, DynamoTable
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.services.clock import SystemClock
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.settings import get_sweeper_settings

logger = Logger(service="assistants-sweeper")


@lru_cache(maxsize=1)
def maintenance() -> RunMaintenance:
    settings = get_sweeper_settings()
    clients = make_aws_clients(settings)
    table = DynamoTable(clients.dynamodb, settings.table_name, S3BodyStore(clients.s3, settings.bucket_name))
    return RunMaintenance(
        with_run_events(DynamoRunRepository(table), DynamoRunEventLog(table)),
        SqsRunQueue(clients.sqs, settings.run_queue_url),
        SystemClock(),
        requeue_after_seconds=settings.requeue_after_seconds,
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[str]]:
    return maintenance().sweep().as_dict()
