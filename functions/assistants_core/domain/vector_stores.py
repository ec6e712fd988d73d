"""Vector stores, their files and file batches: domain objects, status rules and counters.

A vector store file moves ``in_progress -> completed | failed | cancelled`` exactly once (conditional
writes); the store's and the batch's ``file_counts`` and ``usage_bytes`` change in the same transaction as
the file's status, so they never drift. Store and batch statuses are derived from those counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

VECTOR_STORE = "vs"
FILE_BATCH = "vsfb"
SECONDS_PER_DAY = 86_400

DEFAULT_MAX_CHUNK_SIZE_TOKENS = 800
DEFAULT_CHUNK_OVERLAP_TOKENS = 400
MIN_CHUNK_SIZE_TOKENS = 100
MAX_CHUNK_SIZE_TOKENS = 4096
MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_KEY_CHARS = 64
MAX_ATTRIBUTE_VALUE_CHARS = 512
MAX_FILES_AT_CREATE = 500  # CreateVectorStoreRequest.file_ids maxItems
MAX_FILES_PER_BATCH = 2000  # CreateVectorStoreFileBatchRequest.file_ids maxItems

Attributes = dict[str, str | float | bool]


class FileStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self is not FileStatus.IN_PROGRESS


@dataclass(frozen=True, slots=True)
class ChunkingStrategy:
    max_chunk_size_tokens: int = DEFAULT_MAX_CHUNK_SIZE_TOKENS
    chunk_overlap_tokens: int = DEFAULT_CHUNK_OVERLAP_TOKENS

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "static",
            "static": {
                "max_chunk_size_tokens": self.max_chunk_size_tokens,
                "chunk_overlap_tokens": self.chunk_overlap_tokens,
            },
        }


@dataclass(slots=True)
class FileCounts:
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.in_progress + self.completed + self.failed + self.cancelled

    def of(self, status: FileStatus) -> int:
        value: int = getattr(self, status.value)
        return value


@dataclass(slots=True)
class VectorStore:
    id: str
    owner: str
    created_at: int
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    expires_after_days: int | None = None
    last_active_at: int | None = None
    usage_bytes: int = 0
    counts: FileCounts = field(default_factory=FileCounts)

    @property
    def expires_at(self) -> int | None:
        if self.expires_after_days is None:
            return None
        anchor = self.last_active_at if self.last_active_at is not None else self.created_at
        return anchor + self.expires_after_days * SECONDS_PER_DAY

    def status(self, now: float) -> str:
        expires_at = self.expires_at
        if expires_at is not None and now >= expires_at:
            return "expired"
        return "in_progress" if self.counts.in_progress else "completed"


@dataclass(slots=True)
class VectorStoreFile:
    """A file in a store (``id`` is the file's id)."""

    id: str
    owner: str
    vector_store_id: str
    created_at: int
    status: FileStatus = FileStatus.IN_PROGRESS
    usage_bytes: int = 0
    last_error: dict[str, str] | None = None
    chunking: ChunkingStrategy = field(default_factory=ChunkingStrategy)
    attributes: Attributes = field(default_factory=dict)
    batch_id: str | None = None
    filename: str = ""
    # How many times an ingestion worker claimed it (a claim whose lease ran out may be taken over).
    attempts: int = 0
    lease_expires_at: float | None = None


@dataclass(slots=True)
class FileBatch:
    id: str
    owner: str
    vector_store_id: str
    created_at: int
    expected: int
    counts: FileCounts = field(default_factory=FileCounts)
    cancelled: bool = False

    @property
    def status(self) -> str:
        if self.cancelled:
            return "cancelled"
        if self.counts.in_progress or self.counts.total < self.expected:
            return "in_progress"
        return "completed"  # as OpenAI: failed files are counted in file_counts.failed
