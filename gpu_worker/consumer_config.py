"""The run consumer's settings (``ConsumerConfig``) and the size of its thread pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistants_core.settings import WorkerSettings
from gpu_worker.intake import SQS_MAX_BATCH
from gpu_worker.reply_events import DEFAULT_DELTA_WRITES_PER_SECOND

# Pool threads beyond one per run: the long poll, claims of a batch, the status read, batched deletes.
EXTRA_POOL_THREADS = SQS_MAX_BATCH + 2


def pool_size(max_concurrent_runs: int) -> int:
    """Threads of a consumer's pool (and botocore connections per client to match)."""
    return max_concurrent_runs + EXTRA_POOL_THREADS


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    max_concurrent_runs: int = 32
    lease_seconds: int = 60
    heartbeat_seconds: float = 10.0
    # How often ONE batched read checks every generating run for cancelling/expiry/lease/stream mark.
    cancel_poll_seconds: float = 0.5
    # All streaming runs together write at most this many text deltas per second (``reply_events``).
    delta_writes_per_second: float = DEFAULT_DELTA_WRITES_PER_SECOND
    receive_wait_seconds: int = 20
    # Between polls of an empty queue while runs are still generating (``receive_wait_seconds`` may be 0).
    busy_poll_seconds: float = 0.5
    # After a storage error the receive loop (and a final write) waits, doubling from busy_poll_seconds.
    max_backoff_seconds: float = 10.0
    # Completion cap when the run sets none; None: only the context that is left after the prompt.
    default_max_completion_tokens: int | None = None
    context_token_limit: int = 8192
    # On shutdown, in-flight runs get this long to finish before they are left to lease expiry.
    drain_seconds: float = 30.0
    # How the served model is offered functions and emits calls (``gpu_worker.tool_calls``).
    tool_call_format: str = "hermes"
    # file_search (``gpu_worker.file_search``): how long a run waits for its stores' files to finish
    # ingesting, at most how many searches a run makes, and whether a reply that cites nothing gets its
    # sources appended.
    file_search_ingestion_wait_seconds: float = 60.0
    file_search_max_calls: int = 3
    file_search_fallback_citations: bool = True
    # Finished runs' messages are deleted together when they finish within this long of each other.
    delete_linger_seconds: float = 0.02
    # The throughput changes, each of which a benchmark turns off to measure it against the old behaviour.
    batched_status_reads: bool = True
    batched_deletes: bool = True
    concurrent_claims: bool = True
    long_poll_while_busy: bool = True
    own_thread_pool: bool = True

    @classmethod
    def from_settings(cls, settings: WorkerSettings, **overrides: Any) -> ConsumerConfig:
        values: dict[str, Any] = {
            "max_concurrent_runs": settings.max_concurrent_runs,
            "lease_seconds": settings.lease_seconds,
            "heartbeat_seconds": settings.heartbeat_seconds,
            "cancel_poll_seconds": settings.cancel_poll_seconds,
            "delta_writes_per_second": settings.delta_writes_per_second,
            "receive_wait_seconds": settings.receive_wait_seconds,
            "default_max_completion_tokens": settings.default_max_completion_tokens,
            "context_token_limit": settings.engine_max_model_len,
            "tool_call_format": settings.tool_call_format,
            "file_search_ingestion_wait_seconds": settings.file_search_ingestion_wait_seconds,
            "file_search_max_calls": settings.file_search_max_calls,
            "file_search_fallback_citations": settings.file_search_fallback_citations,
        }
        return cls(**{**values, **overrides})
