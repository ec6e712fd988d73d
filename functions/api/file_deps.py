"""The composition root of files, uploads and vector stores (part of the API's ``ApiDependencies``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request

from assistants_core.adapters.aws import AwsClients
from assistants_core.adapters.dynamodb.files import DynamoFileRepository
from assistants_core.adapters.dynamodb.table import DynamoTable
from assistants_core.adapters.dynamodb.uploads import DynamoUploadRepository
from assistants_core.adapters.dynamodb.vector_stores import DynamoVectorStoreRepository
from assistants_core.adapters.s3_chunks import S3ChunkIndex
from assistants_core.adapters.s3_objects import S3ObjectStore
from assistants_core.adapters.sqs_ingestion import NoIngestionQueue, SqsIngestionQueue
from assistants_core.file_ports import Embedder, FileRepository, IngestionQueue, VectorStoreRepository
from assistants_core.ports import Clock
from assistants_core.services.files import FileService
from assistants_core.services.uploads import UploadService
from assistants_core.services.vector_store_files import VectorStoreFileService
from assistants_core.services.vector_store_search import VectorStoreSearchService
from assistants_core.services.vector_stores import VectorStoreService
from assistants_core.services.worker_wake import WakingIngestionQueue, WorkerWakeService
from assistants_core.settings import ApiSettings


@dataclass(frozen=True, slots=True)
class FileServices:
    files: FileService
    uploads: UploadService
    stores: VectorStoreService
    store_files: VectorStoreFileService
    search: VectorStoreSearchService
    clock: Clock
    file_repository: FileRepository
    store_repository: VectorStoreRepository


@lru_cache(maxsize=4)
def _numpy_minilm(model_path: str) -> Embedder:
    from assistants_core.adapters.minilm_numpy import NumpyMiniLm

    return NumpyMiniLm(model_path)


def query_embedder(settings: ApiSettings) -> Embedder | None:
    """The ingestion model, in numpy (loaded once per process), or None when none is configured."""
    return _numpy_minilm(settings.embedding_model_path) if settings.embedding_model_path else None


def build_file_services(
    settings: ApiSettings,
    clients: AwsClients,
    table: DynamoTable,
    clock: Clock,
    *,
    ingestion_wake: WorkerWakeService | None = None,
) -> FileServices:
    objects = S3ObjectStore(clients.s3, settings.bucket_name)
    file_repo = DynamoFileRepository(table)
    store_repo = DynamoVectorStoreRepository(table)
    chunk_index = S3ChunkIndex(clients.s3, settings.bucket_name)
    queue_url = settings.ingestion_queue_url
    ingestion: IngestionQueue = SqsIngestionQueue(clients.sqs, queue_url) if queue_url else NoIngestionQueue()
    if queue_url and ingestion_wake is not None:
        ingestion = WakingIngestionQueue(ingestion, ingestion_wake)
    store_files = VectorStoreFileService(store_repo, file_repo, ingestion, chunk_index, clock)
    return FileServices(
        files=FileService(file_repo, objects, clock, detach=store_files.detach_everywhere),
        uploads=UploadService(DynamoUploadRepository(table), objects, clock),
        stores=VectorStoreService(store_repo, file_repo, store_files, chunk_index, clock),
        store_files=store_files,
        search=VectorStoreSearchService(store_repo, chunk_index, query_embedder(settings), clock),
        clock=clock,
        file_repository=file_repo,
        store_repository=store_repo,
    )


def file_services(request: Request) -> FileServices:
    """FastAPI dependency: the app's file and vector store services."""
    services: FileServices = request.app.state.dependencies.file_services
    return services


FileDeps = Annotated[FileServices, Depends(file_services)]
