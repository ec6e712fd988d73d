"""The worker's composition root: AWS adapters + an engine -> a ``RunConsumer`` (local entry and Modal)."""

from __future__ import annotations

import os
import socket
import uuid

from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.adapters.dynamodb import (
    DynamoAssistantRepository,
    DynamoMessageRepository,
    DynamoRunEventLog,
    DynamoRunRepository,
    DynamoTable,
    DynamoThreadRepository,
)
from assistants_core.adapters.dynamodb.run_status import DynamoRunStatusReader
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.s3_chunks import S3ChunkIndex
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.services.clock import SystemClock
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.run_events import RunEventPublisher
from assistants_core.services.vector_store_search import VectorStoreSearchService
from assistants_core.settings import WorkerSettings
from gpu_worker.consumer import ConsumerConfig, RunConsumer, pool_size
from gpu_worker.engines.base import Engine
from gpu_worker.file_search import FileSearcher


def new_worker_id(prefix: str = "worker") -> str:
    """Unique per consumer: the lease owner recorded on the runs it claims."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def build_queue(settings: WorkerSettings) -> SqsRunQueue:
    return SqsRunQueue(make_aws_clients(settings).sqs, settings.run_queue_url)


def build_file_searcher(
    settings: WorkerSettings, clients: AwsClients, table: DynamoTable
) -> FileSearcher | None:
    """The file_search tool's reads and search: the query embedder is the ingestion's model in numpy (the
    API's search uses the same); None when no model is configured (file_search runs then fail)."""
    if not settings.embedding_model_path:
        return None
    from assistants_core.adapters.minilm_numpy import NumpyMiniLm

    stores = DynamoVectorStoreRepository(table)
    search = VectorStoreSearchService(
        stores,
        S3ChunkIndex(clients.s3, settings.bucket_name),
        NumpyMiniLm(settings.embedding_model_path),
        SystemClock(),
    )
    return FileSearcher(DynamoAssistantRepository(table), DynamoThreadRepository(table), stores, search)


def build_consumer(
    settings: WorkerSettings,
    engine: Engine,
    *,
    worker_id: str | None = None,
    clients: AwsClients | None = None,
    config: ConsumerConfig | None = None,
) -> RunConsumer:
    """``clients`` defaults to new ones for ``settings`` with a connection pool as large as the consumer's
    thread pool (a benchmark passes its own to count their calls); ``config`` defaults to the settings'."""
    config = config or ConsumerConfig.from_settings(settings)
    clients = clients or make_aws_clients(
        settings, max_pool_connections=pool_size(config.max_concurrent_runs)
    )
    table = DynamoTable(
        clients.dynamodb,
        settings.table_name,
        S3BodyStore(clients.s3, settings.bucket_name),
        settings.inline_body_limit_bytes,
    )
    events = DynamoRunEventLog(table)
    runs = DynamoRunRepository(table, derive_reply_steps=settings.derive_reply_steps)
    return RunConsumer(
        SqsRunQueue(clients.sqs, settings.run_queue_url),
        with_run_events(runs, events),
        DynamoMessageRepository(table),
        engine,
        events=RunEventPublisher(events),
        config=config,
        clock=SystemClock(),
        worker_id=worker_id or new_worker_id(),
        statuses=DynamoRunStatusReader(table),
        file_searcher=build_file_searcher(settings, clients, table),
    )
