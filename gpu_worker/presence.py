"""While a consumer runs it marks itself live in the table (``WorkerPresence``), so the API wakes the worker
only when no consumer is receiving (``services/worker_wake.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.adapters.dynamodb import DynamoTable
from assistants_core.adapters.dynamodb.worker_presence import DynamoWorkerPresence
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.ports import Clock, WorkerPresence
from assistants_core.services.clock import SystemClock
from assistants_core.settings import WorkerSettings

logger = logging.getLogger(__name__)


def presence_seconds(settings: WorkerSettings) -> float:
    """How long one mark counts: a consumer inside a long poll is live, and a missed mark is tolerated."""
    return settings.receive_wait_seconds + 2 * settings.heartbeat_seconds


async def mark_alive_until_cancelled(
    presence: WorkerPresence, clock: Clock, *, interval_seconds: float, alive_seconds: float
) -> None:
    while True:
        try:
            await asyncio.to_thread(presence.mark_consumer_alive, clock.now() + alive_seconds)
        except Exception:  # presence only saves a wake; never stop the consumer for it
            logger.warning("could not mark the consumer live", exc_info=True)
        await asyncio.sleep(interval_seconds)


@contextlib.asynccontextmanager
async def consumer_presence(
    settings: WorkerSettings, *, clients: AwsClients | None = None, clock: Clock | None = None
) -> AsyncIterator[None]:
    """Mark this consumer live every ``heartbeat_seconds`` while the ``async with`` body runs."""
    clients = clients or make_aws_clients(settings)
    table = DynamoTable(clients.dynamodb, settings.table_name, S3BodyStore(clients.s3, settings.bucket_name))
    task = asyncio.create_task(
        mark_alive_until_cancelled(
            DynamoWorkerPresence(table),
            clock or SystemClock(),
            interval_seconds=settings.heartbeat_seconds,
            alive_seconds=presence_seconds(settings),
        )
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
