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

from assistants_core.adapters.sqs_queue import decode_run_message
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.settings import get_sweeper_settings
from maintenance.wiring import build_run_maintenance

logger = Logger(service="assistants-dlq")
processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def maintenance() -> RunMaintenance:
    return build_run_maintenance(get_sweeper_settings())


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
