"""Run step wire model and the mapping."""

from __future__ import annotations

from typing import Any, Literal

from assistants_core.domain.models import RunStep
from assistants_core.domain.status import StepStatus
from assistants_core.schemas.common import Metadata, WireModel
from assistants_core.schemas.runs import UsageObject
from assistants_core.schemas.step_details import step_details_to_wire


class RunStepObject(WireModel):
    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: str
    step_details: dict[str, Any]
    last_error: dict[str, Any] | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: Metadata
    usage: UsageObject | None

    @classmethod
    def from_domain(cls, step: RunStep, *, include_content: bool = False) -> RunStepObject:
        """``include_content``: file_search results carry their chunks (``include[]``)."""
        return cls(
            id=step.id,
            created_at=step.created_at,
            assistant_id=step.assistant_id,
            thread_id=step.thread_id,
            run_id=step.run_id,
            type=step.type,  # type: ignore[arg-type]  # validated by pydantic
            status=step.status.value,
            step_details=step_details_to_wire(step.step_details, include_content=include_content),
            last_error=step.last_error,
            expired_at=step.expired_at,
            cancelled_at=step.cancelled_at,
            failed_at=step.failed_at,
            completed_at=step.completed_at,
            metadata=step.metadata,
            # OpenAI: null while the step is in_progress (a tool_calls step keeps its turn's usage till then).
            usage=None if step.status == StepStatus.IN_PROGRESS else UsageObject.from_domain(step.usage),
        )
