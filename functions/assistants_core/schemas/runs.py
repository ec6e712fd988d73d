"""Run wire models (create, create thread-and-run, modify, run object) and the mapping."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from assistants_core.domain.models import Run, Usage
from assistants_core.schemas.common import Metadata, RequestModel, ToolResources, WireModel
from assistants_core.schemas.messages import CreateMessageRequest
from assistants_core.schemas.threads import CreateThreadRequest
from assistants_core.schemas.tools import (
    ResponseFormat,
    ToolChoice,
    ToolList,
    response_format_from_domain,
    tool_choice_from_domain,
    tools_from_domain,
)


class TruncationStrategy(RequestModel):
    type: Literal["auto", "last_messages"]
    last_messages: int | None = Field(default=None, ge=1)


class RunOptions(RequestModel):
    """The run parameters shared by ``POST /threads/{id}/runs`` and ``POST /threads/runs``."""

    assistant_id: str
    model: str | None = None
    instructions: str | None = None
    tools: ToolList | None = None
    metadata: Metadata | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool = True
    response_format: ResponseFormat | None = None


class CreateRunRequest(RunOptions):
    additional_instructions: str | None = None
    additional_messages: list[CreateMessageRequest] | None = None


class CreateThreadAndRunRequest(RunOptions):
    thread: CreateThreadRequest | None = None
    tool_resources: ToolResources | None = None


class ModifyRunRequest(RequestModel):
    metadata: Metadata | None = None


class UsageObject(WireModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def from_domain(cls, usage: Usage | None) -> UsageObject | None:
        if usage is None:
            return None
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )


class RunObject(WireModel):
    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: str
    required_action: dict[str, Any] | None
    last_error: dict[str, Any] | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: dict[str, Any] | None
    model: str
    instructions: str
    tools: ToolList
    metadata: Metadata
    usage: UsageObject | None
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: TruncationStrategy | None
    tool_choice: ToolChoice | None
    parallel_tool_calls: bool
    response_format: ResponseFormat | None

    @classmethod
    def from_domain(cls, run: Run) -> RunObject:
        return cls(
            id=run.id,
            created_at=run.created_at,
            thread_id=run.thread_id,
            assistant_id=run.assistant_id,
            status=run.status.value,
            required_action=run.required_action,
            last_error=run.last_error,
            expires_at=run.expires_at,
            started_at=run.started_at,
            cancelled_at=run.cancelled_at,
            failed_at=run.failed_at,
            completed_at=run.completed_at,
            incomplete_details=run.incomplete_details,
            model=run.model,
            instructions=run.instructions or "",
            tools=tools_from_domain(run.tools),
            metadata=run.metadata,
            # OpenAI: null until the run is in a terminal state (requires_action keeps its tally internally).
            usage=UsageObject.from_domain(run.usage) if run.status.is_terminal else None,
            temperature=run.temperature,
            top_p=run.top_p,
            max_prompt_tokens=run.max_prompt_tokens,
            max_completion_tokens=run.max_completion_tokens,
            truncation_strategy=TruncationStrategy.model_validate(run.truncation_strategy),
            tool_choice=tool_choice_from_domain(run.tool_choice),
            parallel_tool_calls=run.parallel_tool_calls,
            response_format=response_format_from_domain(run.response_format),
        )
