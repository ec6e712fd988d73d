"""Wire models of ``/v1/vector_stores`` (VectorStoreObject, VectorStoreFileObject,
VectorStoreFileBatchObject and their requests), field names as in OpenAI's OpenAPI spec."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from assistants_core.domain.vector_stores import (
    MAX_FILES_AT_CREATE,
    MAX_FILES_PER_BATCH,
    FileBatch,
    FileCounts,
    VectorStore,
    VectorStoreFile,
)
from assistants_core.schemas.common import RequestModel, WireModel

AttributeValue = str | float | bool


class StaticChunking(RequestModel):
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


class StaticChunkingStrategyParam(RequestModel):
    type: Literal["static"]
    static: StaticChunking


class AutoChunkingStrategyParam(RequestModel):
    type: Literal["auto"]


ChunkingStrategyParam = Annotated[
    AutoChunkingStrategyParam | StaticChunkingStrategyParam, Field(discriminator="type")
]


class ExpiresAfter(RequestModel):
    anchor: Literal["last_active_at"]
    days: int


class CreateVectorStoreRequest(RequestModel):
    file_ids: list[str] = Field(default_factory=list, max_length=MAX_FILES_AT_CREATE)
    name: str | None = None
    description: str | None = None
    expires_after: ExpiresAfter | None = None
    chunking_strategy: ChunkingStrategyParam | None = None
    metadata: dict[str, Any] | None = None


class UpdateVectorStoreRequest(RequestModel):
    name: str | None = None
    expires_after: ExpiresAfter | None = None
    metadata: dict[str, Any] | None = None


class CreateVectorStoreFileRequest(RequestModel):
    file_id: str
    chunking_strategy: ChunkingStrategyParam | None = None
    attributes: dict[str, Any] | None = None


class UpdateVectorStoreFileAttributesRequest(RequestModel):
    attributes: dict[str, Any] | None


class CreateFileBatchRequest(RequestModel):
    file_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_FILES_PER_BATCH)
    files: list[CreateVectorStoreFileRequest] | None = Field(
        default=None, min_length=1, max_length=MAX_FILES_PER_BATCH
    )
    chunking_strategy: ChunkingStrategyParam | None = None
    attributes: dict[str, Any] | None = None


class FileCountsObject(WireModel):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int

    @classmethod
    def from_domain(cls, counts: FileCounts) -> FileCountsObject:
        return cls(
            in_progress=counts.in_progress,
            completed=counts.completed,
            failed=counts.failed,
            cancelled=counts.cancelled,
            total=counts.total,
        )


class ExpiresAfterObject(WireModel):
    anchor: Literal["last_active_at"] = "last_active_at"
    days: int


class VectorStoreObject(WireModel):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str | None
    description: str | None = None
    usage_bytes: int
    file_counts: FileCountsObject
    status: Literal["expired", "in_progress", "completed"]
    expires_after: ExpiresAfterObject | None = None
    expires_at: int | None = None
    last_active_at: int | None
    metadata: dict[str, str]

    @classmethod
    def from_domain(cls, store: VectorStore, *, now: float) -> VectorStoreObject:
        days = store.expires_after_days
        return cls(
            id=store.id,
            created_at=store.created_at,
            name=store.name,
            description=store.description,
            usage_bytes=store.usage_bytes,
            file_counts=FileCountsObject.from_domain(store.counts),
            status=store.status(now),  # type: ignore[arg-type]  # one of the three
            expires_after=ExpiresAfterObject(days=days) if days is not None else None,
            expires_at=store.expires_at,
            last_active_at=store.last_active_at if store.last_active_at is not None else store.created_at,
            metadata=store.metadata,
        )


class VectorStoreDeleted(WireModel):
    id: str
    object: Literal["vector_store.deleted"] = "vector_store.deleted"
    deleted: bool = True


class LastErrorObject(WireModel):
    code: Literal["server_error", "unsupported_file", "invalid_file", "rate_limit_exceeded"]
    message: str


class VectorStoreFileObject(WireModel):
    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    last_error: LastErrorObject | None
    chunking_strategy: dict[str, Any]
    attributes: dict[str, AttributeValue] | None = None

    @classmethod
    def from_domain(cls, file: VectorStoreFile) -> VectorStoreFileObject:
        return cls(
            id=file.id,
            usage_bytes=file.usage_bytes,
            created_at=file.created_at,
            vector_store_id=file.vector_store_id,
            status=file.status.value,
            last_error=LastErrorObject.model_validate(file.last_error) if file.last_error else None,
            chunking_strategy=file.chunking.to_wire(),
            attributes=file.attributes,
        )


class VectorStoreFileDeleted(WireModel):
    id: str
    object: Literal["vector_store.file.deleted"] = "vector_store.file.deleted"
    deleted: bool = True


class FileBatchObject(WireModel):
    id: str
    object: Literal["vector_store.files_batch"] = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    file_counts: FileCountsObject

    @classmethod
    def from_domain(cls, batch: FileBatch) -> FileBatchObject:
        counts = batch.counts
        # Files not yet written count as in progress, so total is the batch's size from the start.
        pending = max(0, batch.expected - counts.total)
        shown = FileCounts(
            in_progress=counts.in_progress + pending,
            completed=counts.completed,
            failed=counts.failed,
            cancelled=counts.cancelled,
        )
        return cls(
            id=batch.id,
            created_at=batch.created_at,
            vector_store_id=batch.vector_store_id,
            status=batch.status,  # type: ignore[arg-type]  # one of the four
            file_counts=FileCountsObject.from_domain(shown),
        )


class FileContentPart(WireModel):
    type: Literal["text"] = "text"
    text: str


class VectorStoreFileContent(WireModel):
    object: Literal["vector_store.file_content.page"] = "vector_store.file_content.page"
    data: list[FileContentPart]
    has_more: bool = False
    next_page: str | None = None


class RankingOptions(RequestModel):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0)


class VectorStoreSearchRequest(RequestModel):
    query: str | list[str]
    rewrite_query: bool = False
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: dict[str, Any] | None = None
    ranking_options: RankingOptions | None = None


class SearchResultContent(WireModel):
    type: Literal["text"] = "text"
    text: str


class SearchResultItem(WireModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, AttributeValue] | None
    content: list[SearchResultContent]


class VectorStoreSearchResults(WireModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResultItem]
    has_more: bool = False
    next_page: str | None = None
