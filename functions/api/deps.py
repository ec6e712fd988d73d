"""The composition root of the API Lambda: AWS clients, adapters and services, built once per cold start."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from fastapi import Request

from api.auth import ApiKeyAuthenticator
from api.file_deps import FileServices, build_file_services
from assistants_core.adapters.aws import AwsClients, make_aws_clients
from assistants_core.adapters.dynamodb import (
    DynamoAssistantRepository,
    DynamoMessageRepository,
    DynamoRunEventLog,
    DynamoRunRepository,
    DynamoRunSlotStore,
    DynamoTable,
    DynamoTenantQuotaStore,
    DynamoThreadRepository,
)
from assistants_core.adapters.dynamodb.worker_presence import INGESTION_PRESENCE_SK, DynamoWorkerPresence
from assistants_core.adapters.s3_bodies import S3BodyStore
from assistants_core.adapters.sqs_queue import SqsRunQueue
from assistants_core.adapters.worker_spawn import (
    INGESTION_WORKER_CLASS_NAME,
    WORKER_CLASS_NAME,
    LocalWorkerSpawner,
    ModalWorkerSpawner,
)
from assistants_core.ports import Clock, WorkerSpawner
from assistants_core.services.assistants import AssistantService
from assistants_core.services.clock import SystemClock
from assistants_core.services.evented_runs import with_run_events
from assistants_core.services.messages import MessageService
from assistants_core.services.models import ModelCatalog
from assistants_core.services.quotas import TenantQuotas
from assistants_core.services.run_stream import RunStreamService
from assistants_core.services.runs import RunService
from assistants_core.services.steps import StepService
from assistants_core.services.thread_vector_stores import ThreadVectorStores
from assistants_core.services.threads import ThreadService
from assistants_core.services.tool_outputs import ToolOutputService
from assistants_core.services.tool_resources import ToolResourceService
from assistants_core.services.tool_validation import ToolSupport
from assistants_core.services.worker_wake import WorkerWakeService
from assistants_core.settings import ApiSettings, get_api_settings


@dataclass(frozen=True, slots=True)
class ApiDependencies:
    assistants: AssistantService
    threads: ThreadService
    messages: MessageService
    runs: RunService
    run_stream: RunStreamService
    tool_outputs: ToolOutputService
    steps: StepService
    quotas: TenantQuotas
    file_services: FileServices
    authenticator: ApiKeyAuthenticator
    cors_allow_origins: list[str]
    clients: AwsClients
    models: ModelCatalog
    worker_wake: WorkerWakeService | None = None


def build_worker_spawner(
    settings: ApiSettings, worker_class: str = WORKER_CLASS_NAME
) -> WorkerSpawner | None:
    """How a run create (or, ``INGESTION_WORKER_CLASS_NAME``, a file added to a vector store) wakes its
    worker (``ASSISTANTS_WORKER_WAKE``)."""
    if settings.worker_wake == "modal":
        return ModalWorkerSpawner(settings.worker_app_name, worker_class=worker_class)
    if settings.worker_wake == "local":
        return LocalWorkerSpawner()
    return None


def build_dependencies(
    settings: ApiSettings,
    *,
    clients: AwsClients | None = None,
    clock: Clock | None = None,
    spawner: WorkerSpawner | None = None,
) -> ApiDependencies:
    """``spawner`` replaces the one ``settings.worker_wake`` names (tests pass a recording one)."""
    clients = clients or make_aws_clients(settings)
    clock = clock or SystemClock()
    table = DynamoTable(
        clients.dynamodb,
        settings.table_name,
        S3BodyStore(clients.s3, settings.bucket_name),
        settings.inline_body_limit_bytes,
    )
    assistant_repo = DynamoAssistantRepository(table)
    thread_repo = DynamoThreadRepository(table)
    message_repo = DynamoMessageRepository(table)
    event_log = DynamoRunEventLog(table)
    run_repo = with_run_events(DynamoRunRepository(table), event_log)
    max_chars = settings.max_message_chars
    run_queue = SqsRunQueue(clients.sqs, settings.run_queue_url)
    models = ModelCatalog.from_settings(settings.served_models, settings.model_aliases)
    spawner = spawner or build_worker_spawner(settings)

    def wake(presence: DynamoWorkerPresence, waking: WorkerSpawner | None) -> WorkerWakeService | None:
        debounce = settings.worker_wake_debounce_seconds
        return WorkerWakeService(presence, waking, clock, debounce_seconds=debounce) if waking else None

    worker_wake = wake(DynamoWorkerPresence(table), spawner)
    ingestion_wake = wake(
        DynamoWorkerPresence(table, item=INGESTION_PRESENCE_SK),
        build_worker_spawner(settings, INGESTION_WORKER_CLASS_NAME),
    )
    file_services = build_file_services(settings, clients, table, clock, ingestion_wake=ingestion_wake)
    support = ToolSupport(
        file_search=settings.embedding_model_path is not None,
        ignore_unsupported=settings.ignore_unsupported_tools,
    )
    resources = ToolResourceService(
        file_services.store_repository, file_services.file_repository, file_services.stores
    )
    thread_stores = ThreadVectorStores(
        thread_repo,
        file_services.store_repository,
        file_services.file_repository,
        file_services.store_files,
        clock,
    )
    quotas = TenantQuotas(
        DynamoTenantQuotaStore(table),
        DynamoRunSlotStore(table),
        clock,
        requests_per_minute=settings.tenant_requests_per_minute,
        request_block=settings.tenant_request_block,
        max_active_runs=settings.tenant_max_active_runs,
        max_open_streams=settings.tenant_max_open_streams,
        stream_lease_seconds=settings.stream_max_seconds,
    )
    runs = RunService(
        assistant_repo,
        run_repo,
        run_queue,
        clock,
        run_expiry_seconds=settings.run_expiry_seconds,
        max_message_chars=max_chars,
        models=models,
        wake=worker_wake,
        admission=quotas,
        support=support,
        resources=resources,
        stores=thread_stores,
    )
    run_stream = RunStreamService(
        runs, run_repo, event_log, max_stream_seconds=settings.stream_max_seconds, quotas=quotas
    )
    return ApiDependencies(
        assistants=AssistantService(
            assistant_repo, clock, models=models, resources=resources, support=support
        ),
        threads=ThreadService(
            thread_repo,
            clock,
            max_message_chars=max_chars,
            support=support,
            resources=resources,
            stores=thread_stores,
        ),
        messages=MessageService(
            message_repo, clock, max_message_chars=max_chars, support=support, stores=thread_stores
        ),
        runs=runs,
        run_stream=run_stream,
        tool_outputs=ToolOutputService(run_repo, run_queue, clock, stream=run_stream),
        steps=StepService(run_repo),
        quotas=quotas,
        authenticator=ApiKeyAuthenticator(
            settings.api_key_hashes, allow_weak_keys=settings.allow_weak_api_keys
        ),
        file_services=file_services,
        cors_allow_origins=[
            origin.strip() for origin in settings.cors_allow_origins.split(",") if origin.strip()
        ],
        clients=clients,
        models=models,
        worker_wake=worker_wake,
    )


@lru_cache(maxsize=1)
def default_dependencies() -> ApiDependencies:
    """The process-wide dependencies from the environment (one per Lambda cold start)."""
    return build_dependencies(get_api_settings())


def services(request: Request) -> ApiDependencies:
    """FastAPI dependency: the app's services."""
    dependencies: ApiDependencies = request.app.state.dependencies
    return dependencies
