"""Request forms of ``tool_resources`` that create things: ``file_search.vector_stores``, the helper that
creates one vector store (with files, chunking and metadata) for an assistant or thread at create time."""

from __future__ import annotations

from pydantic import Field

from assistants_core.domain.vector_stores import MAX_FILES_AT_CREATE
from assistants_core.schemas.common import (
    FileSearchResources,
    Metadata,
    RequestModel,
    ToolResources,
    omitted_when_none,
)
from assistants_core.schemas.vector_stores import ChunkingStrategyParam


class InlineVectorStore(RequestModel):
    file_ids: list[str] = Field(default_factory=list, max_length=MAX_FILES_AT_CREATE)
    chunking_strategy: ChunkingStrategyParam | None = None
    metadata: Metadata | None = None


class FileSearchResourcesInput(FileSearchResources):
    vector_stores: list[InlineVectorStore] | None = Field(default=None, max_length=1)


class ToolResourcesInput(ToolResources):
    """``tool_resources`` of assistant and thread create (modify takes ``ToolResources``: ids only)."""

    file_search: FileSearchResourcesInput | None = omitted_when_none()
