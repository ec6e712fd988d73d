"""SQS-triggered Lambda on the run dead-letter queue: each dead message's run is marked ``failed``.

Partial batch failure reporting: a record whose run could not be updated (storage error) is retried alone.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from assistants_core.adapters.aws import make_aws_clients
from assistants_core.adapters.dynamodb import DynamoRunEventLog, DynamoRunRepository, DynamoTable
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.sqs_queue import SqsRunQueue, decode_run_message
from assistants_core.services.clock import SystemClock
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.settings import get_sweeper_settings

logger = Logger(service="assistants-dlq")
processor = BatchProcessor(event_type=EventType.SQS)


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


def fail_run_of(record: SQSRecord) -> None:
    ref = decode_run_message(record.body)
    if ref is None:
        logger.warning("dead letter is not a run message", message_id=record.message_id)
        return
    failed = maintenance().fail_dead_letter(ref)
    logger.info("dead letter handled", run_id=ref.run_id, failed=failed)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=fail_run_of, processor=processor, context=context
    )
