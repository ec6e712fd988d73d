"""Assistant wire models and the domain <-> wire mapping."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assistants_core.domain.models import Assistant
from assistants_core.schemas.common import Metadata, RequestModel, ToolResources, WireModel
from assistants_core.schemas.tool_resources import ToolResourcesInput
from assistants_core.schemas.tools import (
    ResponseFormat,
    ToolList,
    response_format_from_domain,
    tools_from_domain,
)


class CreateAssistantRequest(RequestModel):
    model: str = Field(min_length=1)
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    instructions: str | None = Field(default=None, max_length=256_000)
    tools: ToolList = Field(default_factory=list)
    tool_resources: ToolResourcesInput | None = None
    metadata: Metadata | None = None
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    response_format: ResponseFormat | None = "auto"


class ModifyAssistantRequest(RequestModel):
    """Every field optional; only the fields present in the body change (``model_fields_set``)."""

    model: str | None = Field(default=None, min_length=1)
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    instructions: str | None = Field(default=None, max_length=256_000)
    tools: ToolList | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: ResponseFormat | None = None


class AssistantObject(WireModel):
    id: str
    object: Literal["assistant"] = "assistant"
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: ToolList
    tool_resources: ToolResources | None
    metadata: Metadata
    temperature: float | None
    top_p: float | None
    response_format: ResponseFormat | None

    @classmethod
    def from_domain(cls, assistant: Assistant) -> AssistantObject:
        return cls(
            id=assistant.id,
            created_at=assistant.created_at,
            name=assistant.name,
            description=assistant.description,
            model=assistant.model,
            instructions=assistant.instructions,
            tools=tools_from_domain(assistant.tools),
            tool_resources=(
                None
                if assistant.tool_resources is None
                else ToolResources.model_validate(assistant.tool_resources)
            ),
            metadata=assistant.metadata,
            temperature=assistant.temperature,
            top_p=assistant.top_p,
            response_format=response_format_from_domain(assistant.response_format),
        )


class AssistantDeleted(WireModel):
    id: str
    object: Literal["assistant.deleted"] = "assistant.deleted"
    deleted: bool = True
