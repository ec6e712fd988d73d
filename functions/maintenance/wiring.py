"""The composition root of ``RunMaintenance`` for the sweeper Lambda, the DLQ Lambda and the local stack's
sweeper: the DynamoDB run repository (recording its status changes in the run event log) and the run queue."""

from __future__ import annotations

from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.adapters.dynamodb import DynamoRunEventLog, DynamoRunRepository, DynamoTable
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.services.clock import SystemClock
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.settings import SweeperSettings


def build_run_maintenance(settings: SweeperSettings, clients: AwsClients | None = None) -> RunMaintenance:
    clients = clients or make_aws_clients(settings)
    table = DynamoTable(
        clients.dynamodb,
        settings.table_name,
        S3BodyStore(clients.s3, settings.bucket_name),
        settings.inline_body_limit_bytes,
    )
    return RunMaintenance(
        with_run_events(DynamoRunRepository(table), DynamoRunEventLog(table)),
        SqsRunQueue(clients.sqs, settings.run_queue_url),
        SystemClock(),
        requeue_after_seconds=settings.requeue_after_seconds,
    )
