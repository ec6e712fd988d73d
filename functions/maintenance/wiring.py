"""The composition root of ``RunMaintenance`` for the sweeper Lambda, the DLQ Lambda and the local stack's
sweeper: the DynamoDB run repository (recording its status changes in the run event log) and the run queue;
and of the sweeper's ``ExpirySweep`` (expired files and vector stores)."""

from __future__ import annotations

from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.adapters.dynamodb import DynamoRunEventLog, DynamoRunRepository, DynamoTable
from assistants_core.adapters.dynamodb.expiring import DynamoExpiredObjects
from assistants_core.adapters.dynamodb.files import DynamoFileRepository
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.s3_chunks import S3ChunkIndex
from assistants_core.adapters.s3_objects import S3ObjectStore
from assistants_core.adapters.sqs_ingestion import NoIngestionQueue
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.services.clock import SystemClock
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.expiry_sweep import ExpirySweep
from assistants_core.services.maintenance import RunMaintenance
from assistants_core.services.vector_store_files import VectorStoreFileService
from assistants_core.settings import SweeperSettings


def _table(settings: SweeperSettings, clients: AwsClients) -> DynamoTable:
    return DynamoTable(
        clients.dynamodb,
        settings.table_name,
        S3BodyStore(clients.s3, settings.bucket_name),
        settings.inline_body_limit_bytes,
    )


def build_run_maintenance(settings: SweeperSettings, clients: AwsClients | None = None) -> RunMaintenance:
    clients = clients or make_aws_clients(settings)
    table = _table(settings, clients)
    return RunMaintenance(
        with_run_events(DynamoRunRepository(table), DynamoRunEventLog(table)),
        SqsRunQueue(clients.sqs, settings.run_queue_url),
        SystemClock(),
        requeue_after_seconds=settings.requeue_after_seconds,
    )


def build_expiry_sweep(settings: SweeperSettings, clients: AwsClients | None = None) -> ExpirySweep:
    clients = clients or make_aws_clients(settings)
    table = _table(settings, clients)
    stores = DynamoVectorStoreRepository(table)
    index = S3ChunkIndex(clients.s3, settings.bucket_name)
    clock = SystemClock()
    # Detaching never enqueues: the ingestion queue is not needed (nor reachable) here.
    files = DynamoFileRepository(table)
    store_files = VectorStoreFileService(stores, files, NoIngestionQueue(), index, clock)
    return ExpirySweep(
        DynamoExpiredObjects(table),
        stores,
        index,
        S3ObjectStore(clients.s3, settings.bucket_name),
        clock,
        detach=store_files.detach_everywhere,
    )
