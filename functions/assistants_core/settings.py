"""Every environment variable the project reads, typed, in one place. Required values have no default."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

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
    # Credentials without stored keys (the Modal worker): the role boto3's web-identity chain assumes with the
    # OIDC token Modal injects as MODAL_IDENTITY_TOKEN (adapters/aws.py). Static AWS_ACCESS_KEY_ID/SECRET keys
    # in the environment, when present, still win (the key-based fallback).
    aws_role_arn: str | None = None
    web_identity_token: str | None = Field(default=None, validation_alias="MODAL_IDENTITY_TOKEN", repr=False)
    # botocore's timeouts and attempts (standard retry mode) for every AWS call. A backend that hangs must be
    # answered (503) well inside API Gateway's 29 s: worst case per call, attempts x (connect + read) plus
    # the retry pauses, 3 x (1 + 4) + 3 = 18 s with these defaults (adapters/aws.py). SQS receives add
    # their long-poll wait to the read timeout.
    aws_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    aws_read_timeout_seconds: float = Field(default=4.0, gt=0)
    aws_max_attempts: int = Field(default=3, ge=1)


class ApiSettings(AwsSettings):
    """The HTTP API Lambda."""

    # Comma-separated ``<sha256 hex of key>:<tenant>`` pairs. Required: an API with no keys serves nobody.
    api_key_hashes: str
    # Accept keys outside the generated-key policy (api/auth.py): the local stack's sk-local-dev. Never on a
    # shared deployment.
    allow_weak_api_keys: bool = False
    cors_allow_origins: str = "*"
    max_message_chars: int = 256_000
    run_expiry_seconds: int = 600
    # A run stream (stream: true, GET .../events) ends with `done` after this long; the client resumes with
    # Last-Event-ID. Behind API Gateway (29 s, buffered) it must end well before the gateway gives up.
    stream_max_seconds: float = Field(default=840.0, gt=0)
    # Comma-separated model names the worker serves (GET /v1/models). Unset: any name is accepted and none
    # listed (tests); the template and the local stack set it.
    served_models: str | None = None
    # Comma-separated ``<requested name>=<served model>`` pairs (``gpt-4o=Qwen3-4B-Instruct-2507``).
    model_aliases: str = ""
    # How a run create wakes the worker when no consumer is live: "none", "modal" (spawn on Modal), "local"
    # (the local stack's stand-in: logs and counts the wake).
    worker_wake: Literal["none", "modal", "local"] = "none"
    worker_app_name: str = "serverless-assistants-worker"
    # At most one wake per this many seconds (a conditional write on one DynamoDB item).
    worker_wake_debounce_seconds: float = Field(default=30.0, gt=0)
    # Per-tenant quotas (services/quotas.py), counted in the table so they hold across all API instances;
    # over one, a 429 with Retry-After. 0 turns one off.
    tenant_requests_per_minute: int = Field(default=1200, ge=0)
    tenant_max_active_runs: int = Field(default=50, ge=0)
    # Requests an API instance counts in one write (a block of the window's quota; at most limit / 20).
    tenant_request_block: int = Field(default=10, ge=1)
    tenant_max_open_streams: int = Field(default=20, ge=0)
    # SQS queue of vector-store file ingestion (parse, chunk, embed, index). Unset: files added to a vector
    # store fail at once with a server_error (nothing can ingest them).
    ingestion_queue_url: str | None = None
    # The sentence-embedding model folder of the ingestion worker (search embeds queries with it, in numpy).
    # Unset: vector store search answers 400, and a declared file_search tool is a 400 at create.
    embedding_model_path: str | None = None
    # Accept declared tools the server does not run (code_interpreter) and store them unused, instead of a
    # 400 at create (assistants, runs, thread-and-run, message attachments).
    ignore_unsupported_tools: bool = False


class WorkerSettings(AwsSettings):
    """The GPU/CPU worker that consumes the run queue."""

    model_path: str
    served_model_name: str = "SmolLM2-135M-Instruct"
    max_concurrent_runs: int = 32
    lease_seconds: int = 60
    heartbeat_seconds: float = 10.0
    cancel_poll_seconds: float = 0.5
    delta_writes_per_second: float = Field(default=100.0, gt=0)
    # The final write leaves out a plain reply's message_creation step; reads derive it from the run
    # (domain/reply_steps.py). False writes the step item (bench.run_cost measures both).
    derive_reply_steps: bool = True
    receive_wait_seconds: int = 20
    idle_exit_seconds: float | None = None
    # Completion cap when the run sets none; unset: the context left after the prompt (as OpenAI).
    default_max_completion_tokens: int | None = None
    # How the served model is offered functions and emits calls (gpu_worker/tool_calls.py: "hermes").
    tool_call_format: str = "hermes"
    # file_search in runs (gpu_worker/file_search.py): the ingestion's sentence-embedding model folder, which
    # embeds the queries in numpy (unset: runs with the file_search tool fail with server_error); how long a
    # run waits for its stores' files to finish ingesting; at most this many searches per run; a reply that
    # cites no result gets the markers of the results it was shown appended.
    embedding_model_path: str | None = None
    file_search_ingestion_wait_seconds: float = Field(default=60.0, ge=0)
    file_search_max_calls: int = Field(default=3, ge=1)
    file_search_fallback_citations: bool = True
    # vLLM engine knobs (CPU defaults for the local stack; the Modal image overrides them).
    engine_dtype: str = "auto"
    engine_enforce_eager: bool = False
    engine_max_model_len: int = 8192
    engine_gpu_memory_utilization: float = 0.9
    # Upper bound on sequences vLLM batches at once; None lets vLLM pick its default.
    engine_max_num_seqs: int | None = None
    engine_seed: int = 0


class WorkerDeploySettings(BaseSettings):
    """What ``modal deploy gpu_worker/app.py`` builds (read on the deploying machine, baked into the image):
    the served model (a Hugging Face repo at a pinned revision, prepared once into the Modal Volume), its
    engine settings and GPU, and how many containers run."""

    model_config = SettingsConfigDict(
        env_prefix="ASSISTANTS_DEPLOY_", extra="ignore", protected_namespaces=()
    )

    # Ungated, Apache-2.0, tool calling in the hermes format, no thinking blocks; fits an L4 (24 GB) in bf16.
    model_repo: str = "Qwen/Qwen3-4B-Instruct-2507"
    # A commit sha; infra/deploy.py resolves a branch or tag to one before preparing (and says so).
    model_revision: str = "main"
    # The name clients use (``model=``); default: the repo's last part. A repo without "/" names a model
    # bundled with the worker (``SmolLM2-135M-Instruct``, for GPU smoke checks only).
    served_model_name: str | None = None
    model_dtype: str = "bfloat16"
    max_model_len: int = Field(default=32768, gt=0)
    gpu: str = "L4"
    tool_call_format: str = "hermes"
    # Containers kept running with the engine loaded (paid while idle); 0 scales to zero.
    min_containers: int = Field(default=0, ge=0)
    max_containers: int = Field(default=4, ge=1)
    # Modal memory snapshot of the loaded engine (GPU memory included) to shorten cold starts.
    memory_snapshot: bool = True
    # Pin GPU containers near the table (e.g. "us-east-1"); Modal bills pinned regions 1.5-1.75x. Unset: any.
    worker_region: str | None = None
    modal_secret_name: str = "assistants-aws"
    # The ingestion worker (vector store files; all-MiniLM-L6-v2 on vLLM's pooling runner): its GPU (a
    # 22M-parameter model: the smallest GPU does) and its most containers; it scales to zero.
    ingestion_gpu: str = "T4"
    ingestion_max_containers: int = Field(default=2, ge=1)

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.model_repo.rstrip("/").rsplit("/", 1)[-1]

    @property
    def bundled(self) -> bool:
        return "/" not in self.model_repo

    @property
    def model_folder(self) -> str:
        """The model's folder in the volume: one per repo and revision, so a change never mixes files."""
        if self.bundled:
            return self.model_repo
        return f"{self.model_repo.replace('/', '--')}@{self.model_revision}"


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
