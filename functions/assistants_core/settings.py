"""Every environment variable the project reads, typed, in one place. Required values have no default."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AwsSettings(BaseSettings):
    """Where the backing AWS resources live; shared by the API, sweeper, DLQ consumer and worker."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANTS_", extra="ignore")

    table_name: str
    bucket_name: str
    run_queue_url: str
    # Set only for the local stack / tests (moto server); None means the real AWS endpoints.
    aws_endpoint_url: str | None = None
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")
    # Message bodies above this many bytes go to S3 (DynamoDB items are capped at 400 KB). Every writer of
    # messages (API, worker, maintenance) must use the same limit.
    inline_body_limit_bytes: int = Field(default=64 * 1024, gt=0)


class ApiSettings(AwsSettings):
    """The HTTP API Lambda."""

    # Comma-separated ``<sha256 hex of key>:<tenant>`` pairs. Required: an API with no keys serves nobody.
    api_key_hashes: str
    cors_allow_origins: str = "*"
    max_message_chars: int = 256_000
    run_expiry_seconds: int = 600
    # A run stream (stream: true, GET .../events) ends with `done` after this long; the client resumes with
    # Last-Event-ID. Behind API Gateway (29 s, buffered) it must end well before the gateway gives up.
    stream_max_seconds: float = Field(default=840.0, gt=0)
    # SQS queue of vector-store file ingestion (parse, chunk, embed, index). Unset: files added to a vector
    # store fail at once with a server_error (nothing can ingest them).
    ingestion_queue_url: str | None = None
    # The sentence-embedding model folder of the ingestion worker (search embeds queries with it, in numpy).
    # Unset: vector store search answers 400.
    embedding_model_path: str | None = None


class WorkerSettings(AwsSettings):
    """The GPU/CPU worker that consumes the run queue."""

    model_path: str
    served_model_name: str = "SmolLM2-135M-Instruct"
    max_concurrent_runs: int = 32
    lease_seconds: int = 60
    heartbeat_seconds: float = 10.0
    cancel_poll_seconds: float = 0.5
    delta_writes_per_second: float = Field(default=100.0, gt=0)
    receive_wait_seconds: int = 20
    idle_exit_seconds: float | None = None
    default_max_completion_tokens: int = 512
    # How the served model is offered functions and emits calls (gpu_worker/tool_calls.py: "hermes").
    tool_call_format: str = "hermes"
    # vLLM engine knobs (CPU defaults for the local stack; the Modal image overrides them).
    engine_dtype: str = "auto"
    engine_enforce_eager: bool = False
    engine_max_model_len: int = 8192
    engine_gpu_memory_utilization: float = 0.9
    # Upper bound on sequences vLLM batches at once; None lets vLLM pick its default.
    engine_max_num_seqs: int | None = None
    engine_seed: int = 0


class IngestionWorkerSettings(AwsSettings):
    """The vector-store ingestion worker (gpu_worker/ingestion): parse, chunk, embed, index."""

    ingestion_queue_url: str
    # Folder of the sentence-embedding model vLLM's pooling runner loads (safetensors + tokenizer.json).
    embedding_model_path: str
    # A claimed file is the worker's for this long (renewed between embedding batches); then another may
    # take it over. A file claimed more than ``ingestion_max_attempts`` times fails with server_error.
    ingestion_lease_seconds: int = Field(default=120, gt=0)
    ingestion_max_attempts: int = Field(default=3, gt=0)
    embedding_batch_size: int = Field(default=32, gt=0)


class SweeperSettings(AwsSettings):
    """The scheduled sweeper Lambda."""

    requeue_after_seconds: int = 120


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()  # type: ignore[call-arg]  # values come from the environment


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    return WorkerSettings()  # type: ignore[call-arg]


@lru_cache(maxsize=1)
def get_ingestion_worker_settings() -> IngestionWorkerSettings:
    return IngestionWorkerSettings()  # type: ignore[call-arg]


@lru_cache(maxsize=1)
def get_sweeper_settings() -> SweeperSettings:
    return SweeperSettings()  # type: ignore[call-arg]
