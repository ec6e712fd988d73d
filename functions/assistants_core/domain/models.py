"""Domain objects. Plain dataclasses: no wire (OpenAI JSON) or storage (DynamoDB item) concerns here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from assistants_core.domain.status import RunStatus, StepStatus

Metadata = dict[str, str]
JSONDict = dict[str, Any]
T = TypeVar("T")


@dataclass(slots=True)
class Assistant:
    id: str
    owner: str
    created_at: int
    model: str
    name: str | None = None
    description: str | None = None
    instructions: str | None = None
    tools: list[JSONDict] = field(default_factory=list)
    tool_resources: JSONDict | None = None
    metadata: Metadata = field(default_factory=dict)
    temperature: float | None = 1.0
    top_p: float | None = 1.0
    response_format: Any = "auto"


@dataclass(slots=True)
class Thread:
    id: str
    owner: str
    created_at: int
    metadata: Metadata = field(default_factory=dict)
    tool_resources: JSONDict | None = None
    active_run_id: str | None = None


@dataclass(slots=True)
class Message:
    """A thread message. ``content`` holds OpenAI content parts (``{"type": "text", "text": {...}}`` ...)."""

    id: str
    owner: str
    thread_id: str
    created_at: int
    role: str
    content: list[JSONDict]
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[JSONDict] = field(default_factory=list)
    metadata: Metadata = field(default_factory=dict)
    status: str = "completed"
    completed_at: int | None = None
    incomplete_at: int | None = None
    incomplete_details: JSONDict | None = None

    def text(self) -> str:
        """The concatenated text of every text part (what a model sees)."""
        return "".join(
            part["text"]["value"] for part in self.content if part.get("type") == "text" and "text" in part
        )


@dataclass(slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Run:
    id: str
    owner: str
    thread_id: str
    assistant_id: str
    created_at: int
    status: RunStatus
    model: str
    instructions: str | None
    expires_at: int | None
    additional_instructions: str | None = None
    tools: list[JSONDict] = field(default_factory=list)
    metadata: Metadata = field(default_factory=dict)
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: JSONDict = field(default_factory=lambda: {"type": "auto", "last_messages": None})
    tool_choice: Any = "auto"
    parallel_tool_calls: bool = True
    response_format: Any = "auto"
    started_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    completed_at: int | None = None
    incomplete_details: JSONDict | None = None
    last_error: JSONDict | None = None
    required_action: JSONDict | None = None
    usage: Usage | None = None
    # Worker lease (not part of the OpenAI object).
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    attempts: int = 0
    # When the run's message was last (re)sent to the queue after creation (not part of the OpenAI object).
    enqueued_at: float | None = None
    # Set once someone streams the run (``stream: true`` at create, or a reader attached to its events): the
    # event log's last sequence number then. Only such runs have an event log (not part of the OpenAI object).
    stream_log_seq: int | None = None
    # [created_at, ended_at] of the plain reply's message_creation step when it is derived from the run
    # rather than stored (``domain.reply_steps``; not part of the OpenAI object).
    reply_step_at: list[int] | None = None
    # The tenant's active-run slot (an index below the quota) the run holds until it ends, taken in the
    # run's create transaction and given back in its terminal one; None when the quota is off (not part of
    # the OpenAI object).
    quota_slot: int | None = None

    @property
    def streamed(self) -> bool:
        return self.stream_log_seq is not None


@dataclass(slots=True)
class RunStep:
    id: str
    owner: str
    thread_id: str
    run_id: str
    assistant_id: str
    created_at: int
    type: str
    status: StepStatus
    step_details: JSONDict
    completed_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    last_error: JSONDict | None = None
    usage: Usage | None = None
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list. ``has_more`` says whether another item lies beyond the last one in this order."""

    data: list[T]
    has_more: bool


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 20
    order: str = "desc"
    after: str | None = None
    before: str | None = None
