"""Thread wire models and the mapping."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assistants_core.domain.models import Thread
from assistants_core.schemas.common import Metadata, RequestModel, ToolResources, WireModel
from assistants_core.schemas.messages import CreateMessageRequest
from assistants_core.schemas.tool_resources import ToolResourcesInput


class CreateThreadRequest(RequestModel):
    messages: list[CreateMessageRequest] = Field(default_factory=list, max_length=32)
    metadata: Metadata | None = None
    tool_resources: ToolResourcesInput | None = None


class ModifyThreadRequest(RequestModel):
    metadata: Metadata | None = None
    tool_resources: ToolResources | None = None


class ThreadObject(WireModel):
    id: str
    object: Literal["thread"] = "thread"
    created_at: int
    metadata: Metadata
    tool_resources: ToolResources | None

    @classmethod
    def from_domain(cls, thread: Thread) -> ThreadObject:
        return cls(
            id=thread.id,
            created_at=thread.created_at,
            metadata=thread.metadata,
            tool_resources=(
                None if thread.tool_resources is None else ToolResources.model_validate(thread.tool_resources)
            ),
        )


class ThreadDeleted(WireModel):
    id: str
    object: Literal["thread.deleted"] = "thread.deleted"
    deleted: bool = True
